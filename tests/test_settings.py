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
