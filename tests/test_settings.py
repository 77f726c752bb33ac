"""Settings: TOML file (config.toml or PAPERS_CONFIG), PAPERS_* environment variables, unknown keys
rejected, and config.example.toml kept in step with the defaults it documents."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from assistant.errors import ConfigError, PapersError
from assistant.settings import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [n for n in __import__("os").environ if n.startswith("PAPERS_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray config.toml from the working directory


def test_example_config_documents_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERS_CONFIG", str(REPO / "config.example.toml"))
    from_example = load_settings().model_dump()
    monkeypatch.delenv("PAPERS_CONFIG")
    defaults = load_settings().model_dump()
    assert from_example == defaults
    documented = tomllib.loads((REPO / "config.example.toml").read_text())
    for section in ("embedding", "chunking", "retrieval", "llm", "answer", "ui"):
        assert set(documented[section]) <= set(defaults[section]), section


def test_toml_in_working_directory_then_env_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.toml").write_text('[retrieval]\nk = 7\n[llm]\nmodel = "ollama/llama3.2"\n')
    settings = load_settings()
    assert (settings.retrieval.k, settings.llm.model) == (7, "ollama/llama3.2")
    monkeypatch.setenv("PAPERS_RETRIEVAL__K", "9")
    assert load_settings().retrieval.k == 9
    assert load_settings(index=tmp_path / "elsewhere").index.path == tmp_path / "elsewhere"


def test_unknown_key_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[retrieval]\nkk = 3\n")
    monkeypatch.setenv("PAPERS_CONFIG", str(bad))
    with pytest.raises(ConfigError, match="kk") as caught:
        load_settings()
    assert isinstance(caught.value, PapersError) and str(bad) in str(caught.value)


def test_malformed_toml_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "broken.toml"
    bad.write_text("[retrieval\nk = ")
    monkeypatch.setenv("PAPERS_CONFIG", str(bad))
    with pytest.raises(ConfigError, match=r"broken\.toml"):
        load_settings()


def test_config_path_that_does_not_exist_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERS_CONFIG", str(tmp_path / "typo.toml"))
    with pytest.raises(ConfigError, match=r"typo\.toml"):
        load_settings()


def test_defaults_need_no_file() -> None:
    settings = Settings()
    assert settings.llm.model.startswith("embedded/") and settings.ui.host == "127.0.0.1"


# -- mistakes are one line naming their real source (issue 21, item 10) ----------------------------


def test_config_naming_a_folder_is_an_error_not_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERS_CONFIG", str(tmp_path))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == f"PAPERS_CONFIG names a folder, not a TOML file: {tmp_path}"
    monkeypatch.setenv("PAPERS_CONFIG", "")
    with pytest.raises(ConfigError, match="PAPERS_CONFIG is set but empty"):
        load_settings()
    monkeypatch.delenv("PAPERS_CONFIG")
    (tmp_path / "config.toml").mkdir()  # the working directory's config.toml, a folder
    with pytest.raises(ConfigError, match=r"config\.toml in .* is a folder, not a TOML file"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("PAPERS_RETRIEVAL_K", "PAPERS_RETRIEVAL__K"),
        ("PAPERS_LLM__MODELL", "PAPERS_LLM__MODEL"),
        ("papers_ui__hots", "PAPERS_UI__HOST"),
        ("PAPERS_INDEX_PATH", "PAPERS_INDEX__PATH"),
        ("PAPERS_COLOUR_SCHEME", None),
    ],
)
def test_an_unknown_papers_variable_is_an_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, suggestion: str | None
) -> None:
    monkeypatch.setenv(name, "3")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"unknown environment variable {name}") and "\n" not in message
    if suggestion:
        assert f"(did you mean {suggestion}?)" in message
    else:
        assert "did you mean" not in message


def test_every_real_variable_is_known(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "PAPERS_RETRIEVAL__K": "3",
        "PAPERS_LLM__MODEL": "ollama/llama3.2",
        "PAPERS_INDEX": "elsewhere",
        "PAPERS_CACHE": "cache",
        "PAPERS_ANSWER": '{"mode": "extract"}',
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert (settings.retrieval.k, settings.llm.model, settings.answer.mode) == (3, "ollama/llama3.2", "extract")
    assert settings.index.path == Path("elsewhere")


def test_an_environment_error_names_the_variable_not_a_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERS_RETRIEVAL__K", "99")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == (
        "invalid setting retrieval.k (from PAPERS_RETRIEVAL__K): Input should be less than or equal to 50"
    )
    monkeypatch.delenv("PAPERS_RETRIEVAL__K")
    monkeypatch.setenv("PAPERS_INDEX__CHROMA_PORT", "abc")  # a union field: only the section's error
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith("invalid setting index.chroma_port (from PAPERS_INDEX__CHROMA_PORT): ")
    monkeypatch.delenv("PAPERS_INDEX__CHROMA_PORT")
    monkeypatch.setenv("PAPERS_LLM", "model=x")  # a section must be JSON
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith("cannot read PAPERS_LLM: a whole section must be JSON")


def test_each_mistake_names_its_own_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "mine.toml"
    config.write_text("[retrieval]\nk = 0\n")
    monkeypatch.setenv("PAPERS_CONFIG", str(config))
    monkeypatch.setenv("PAPERS_LLM__TIMEOUT_S", "-1")
    with pytest.raises(ConfigError) as caught:
        load_settings(answer={"mode": "poetry"})
    message = str(caught.value)
    assert "\n" not in message and "config.toml" not in message
    assert f"retrieval.k (from {config}): Input should be greater than or equal to 1" in message
    assert "llm.timeout_s (from PAPERS_LLM__TIMEOUT_S): Input should be greater than 0" in message
    assert "answer.mode (from a command-line option): Input should be 'auto', 'generate' or 'extract'" in message
