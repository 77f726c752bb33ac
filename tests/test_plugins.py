"""Model backends as plugins (``papers.models`` entry points, ``assistant.llm.load_plugins``): the
shipped backends register that way, another package's backend is found the same way, a broken one
is one clear error, and answer logic runs against an in-process model registered through it."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint

import pytest

from assistant import llm
from assistant.errors import ModelError
from assistant.settings import load_settings
from tests import plugin_models


def _install(monkeypatch: pytest.MonkeyPatch, *points: EntryPoint) -> None:
    """Make ``points`` what the ``papers.models`` group lists, as an installed package's metadata would."""
    import importlib.metadata

    real = importlib.metadata.entry_points

    def entry_points(**params: str):  # type: ignore[no-untyped-def]
        if params.get("group") == llm.PLUGIN_GROUP:
            return [*real(group=llm.PLUGIN_GROUP), *points]
        return real(**params)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    monkeypatch.setattr(llm, "_plugins_loaded", False)
    monkeypatch.setattr(llm, "_REGISTRY", list(llm._REGISTRY))


SCRIPTED = EntryPoint("scripted", "tests.plugin_models:ScriptedModel", llm.PLUGIN_GROUP)


@pytest.fixture
def scripted_model(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Registers ``scripted/…`` through the entry-point group; the test sets the reply in the list."""
    _install(monkeypatch, SCRIPTED)
    plugin_models.SCRIPT[:] = [""]
    plugin_models.SEEN.clear()
    yield plugin_models.SCRIPT


def test_the_shipped_backends_are_entry_points() -> None:
    from importlib.metadata import entry_points

    names = {p.name: p.value for p in entry_points(group=llm.PLUGIN_GROUP)}
    assert names["embedded"] == "assistant.llm:EmbeddedModel" and names["litellm"] == "assistant.llm:LiteLLMModel"


def test_a_plugin_backend_is_found_by_its_prefix(scripted_model: list[str]) -> None:
    settings = load_settings()
    model = llm.get_model("scripted/echo", settings)
    assert isinstance(model, plugin_models.ScriptedModel)
    assert isinstance(llm.get_model("embedded/qwen2.5-0.5b", settings), llm.EmbeddedModel)
    assert isinstance(llm.get_model("openai/gpt-4o-mini", settings), llm.LiteLLMModel)
    scripted_model[:] = ["A reply from a plugin."]
    assert model.complete([{"role": "user", "content": "hi"}]).strip() == "A reply from a plugin."


@pytest.mark.parametrize(
    ("value", "problem"),
    [("tests.no_such_module:Model", "cannot be loaded"), ("tests.plugin_models:SCRIPT", "is not a Model subclass")],
)
def test_a_broken_plugin_is_one_error_naming_it(monkeypatch: pytest.MonkeyPatch, value: str, problem: str) -> None:
    _install(monkeypatch, EntryPoint("broken", value, llm.PLUGIN_GROUP))
    with pytest.raises(ModelError, match=f"model plugin 'broken' .*{problem}"):
        llm.get_model("openai/gpt-4o-mini", load_settings())


def test_answer_logic_with_an_in_process_model(corpus_index, scripted_model: list[str]) -> None:  # type: ignore[no-untyped-def]
    from assistant.answer import AnswerChain

    settings, _ = corpus_index
    chain = AnswerChain(settings)
    invented = "The method also bakes award-winning sourdough bread in 12 minutes [1]."
    scripted_model[:] = [
        "ImpRAG integrates retrieval and generation into a single model so that no explicit textual "
        f"queries are needed [1]. {invented} It was evaluated on knowledge-intensive tasks [9]."
    ]
    question = "How can retrieval work with implicit queries?"
    auto = chain.answer(question, mode="auto", model="scripted/test")
    generate = chain.answer(question, mode="generate", model="scripted/test")
    assert plugin_models.SEEN and "implicit queries" in plugin_models.SEEN[-1][-1]["content"]
    assert "sourdough" not in auto.answer and "ImpRAG" in auto.answer
    assert 9 in generate.removed_citations and "[9]" not in generate.answer
    flagged = [s for s in generate.sentences if "sourdough" in s.text]
    assert flagged and flagged[0].flagged and flagged[0].support < chain.scorer.threshold


def test_generate_mode_shows_a_restatement_flagged_where_auto_drops_it(corpus_index, scripted_model: list[str]) -> None:  # type: ignore[no-untyped-def]
    """The review's case: generate mode answered "" while the model had said something (flagged, not hidden)."""
    from assistant.answer import AnswerChain

    settings, _ = corpus_index
    chain = AnswerChain(settings)
    scripted_model[:] = ["The Lion optimizer is found in the paper [1]."]
    question = "What is the Lion optimizer and how was it found?"
    generate = chain.answer(question, mode="generate", model="scripted/test")
    assert generate.answer and generate.sentences and all(s.flagged for s in generate.sentences)
    auto = chain.answer(question, mode="auto", model="scripted/test")
    assert "is found in the paper" not in auto.answer and auto.answer  # dropped, and the extract answers


def test_a_translation_that_answers_instead_is_asked_again_then_refused(scripted_model: list[str]) -> None:
    """The review's case: "¿Cómo se puede acelerar la inferencia de los LLM?" came back "translated" as
    "By using more advanced techniques and algorithms." and was answered. A translation keeps the
    question mark and the acronyms; the model is asked once more, then the question is refused."""
    from assistant.errors import UnsupportedLanguage
    from assistant.language import to_english
    from assistant.settings import load_settings

    settings = load_settings()
    question = "¿Cómo se puede acelerar la inferencia de los LLM?"
    scripted_model[:] = ["By using more advanced techniques and algorithms.", "How can LLM inference be accelerated?"]
    assert to_english(question, settings, "scripted/test") == "How can LLM inference be accelerated?"
    assert len(plugin_models.SEEN) == 2 and "Do not answer it" in plugin_models.SEEN[1][-1]["content"]
    plugin_models.SEEN.clear()
    scripted_model[:] = ["By using more advanced techniques and algorithms.", "How can inference be made faster?"]
    with pytest.raises(UnsupportedLanguage, match=r"no usable translation.*ask in English"):
        to_english(question, settings, "scripted/test")  # the second reply lost "LLM"
