"""The LLM seam: backends by prefix, streams that close, provider errors mapped by exception type.

Provider behaviour comes from FakeOpenAIServer (tests/fake_llm.py), a canned OpenAI-compatible
server on 127.0.0.1 named as the fake it is: these tests are about our handling of provider output.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import litellm
import pytest

from assistant.errors import (
    ProviderAuthError,
    ProviderEmptyReply,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnreachable,
)
from assistant.llm import EmbeddedModel, LiteLLMModel, Model, get_model, provider_error, register
from assistant.settings import LLMSettings, Settings
from tests.fake_llm import FakeOpenAIServer


def settings_for(api_base: str | None = None, timeout_s: float = 20.0, retries: int = 0) -> Settings:
    """The configured model is openai/fake: ``api_base`` belongs to it (and only to it)."""
    return Settings(
        llm=LLMSettings(model="openai/fake", api_base=api_base, timeout_s=timeout_s, max_tokens=64, retries=retries)
    )


HI = [{"role": "user", "content": "hi"}]


def test_backends_are_chosen_by_prefix() -> None:
    settings = settings_for()
    assert type(get_model("embedded/qwen2.5-0.5b", settings)) is EmbeddedModel
    assert type(get_model("openai/gpt-4o-mini", settings)) is LiteLLMModel
    assert get_model(None, settings).name == settings.llm.model  # default from settings


def test_a_registered_backend_wins_for_its_prefix() -> None:
    @register
    class Echo(Model):
        prefix = "echo-test/"

        def completion_args(self) -> dict[str, Any]:
            return {"model": "openai/echo", "api_base": "http://127.0.0.1:9/v1", "api_key": "x"}

    assert type(get_model("echo-test/anything", settings_for())) is Echo
    assert type(get_model("echo/other", settings_for())) is LiteLLMModel


def test_api_base_applies_to_the_configured_model_only() -> None:
    """A key for another provider must never be sent to the host api_base names."""
    settings = settings_for(api_base="http://127.0.0.1:1/v1")
    assert get_model("openai/fake", settings).completion_args()["api_base"] == "http://127.0.0.1:1/v1"
    assert get_model(None, settings).completion_args()["api_base"] == "http://127.0.0.1:1/v1"
    for other in ("openai/gpt-4o-mini", "anthropic/claude-x", "ollama/llama3.2"):
        assert "api_base" not in get_model(other, settings).completion_args()


def test_stream_yields_the_reply() -> None:
    with FakeOpenAIServer("Retrieval helps [1].") as server:
        model = get_model("openai/fake", settings_for(server.api_base))
        assert model.complete([{"role": "user", "content": "hi"}]) == "Retrieval helps [1]."


def test_leaving_the_stream_early_closes_the_connection() -> None:
    reply = " ".join(f"word{i}" for i in range(400))
    with FakeOpenAIServer(reply, word_delay_s=0.02) as server:
        model = get_model("openai/fake", settings_for(server.api_base))
        with model.stream([{"role": "user", "content": "hi"}]) as deltas:
            for i, _ in enumerate(deltas):
                if i == 3:
                    break
        assert server.disconnected.wait(5), "the server kept streaming to a closed client"
        assert server.words_sent < 100  # not generated to the end


def test_http_errors_become_provider_errors() -> None:
    with FakeOpenAIServer(status=500) as server, pytest.raises(ProviderError, match="openai/fake"):
        get_model("openai/fake", settings_for(server.api_base)).complete([{"role": "user", "content": "hi"}])
    with FakeOpenAIServer(status=401) as server, pytest.raises(ProviderAuthError):
        get_model("openai/fake", settings_for(server.api_base)).complete([{"role": "user", "content": "hi"}])


def test_a_server_that_never_answers_times_out_within_the_limit() -> None:
    with FakeOpenAIServer("late", hang_s=10) as server:
        started = time.monotonic()
        with pytest.raises(ProviderTimeout):
            get_model("openai/fake", settings_for(server.api_base, timeout_s=1.5, retries=1)).complete(HI)
        # (retries + 1) x timeout_s plus the backoff between them
        assert len(server.requests) == 2 and time.monotonic() - started < 2 * 1.5 + 3


def test_connection_refused_is_unreachable() -> None:
    with pytest.raises(ProviderUnreachable, match="cannot reach"):
        get_model("openai/fake", settings_for("http://127.0.0.1:9/v1")).complete([{"role": "user", "content": "hi"}])


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (litellm.Timeout("slow", model="m", llm_provider="openai"), ProviderTimeout),
        (httpx.ReadTimeout("read timed out"), ProviderTimeout),
        (litellm.AuthenticationError("bad key", llm_provider="openai", model="m"), ProviderAuthError),
        (litellm.RateLimitError("slow down", llm_provider="openai", model="m"), ProviderRateLimited),
        (litellm.APIConnectionError("refused", llm_provider="openai", model="m"), ProviderUnreachable),
        (httpx.ConnectError("refused"), ProviderUnreachable),
        (ValueError("odd reply"), ProviderError),
    ],
)
def test_errors_are_mapped_by_type_not_by_message(exc: Exception, kind: type[ProviderError]) -> None:
    mapped = provider_error("openai/m", exc)
    assert type(mapped) is kind
    assert mapped.args[0].startswith("openai/m")


def test_a_callers_own_error_passes_through_and_still_closes_the_stream() -> None:
    reply = " ".join(f"word{i}" for i in range(400))
    with FakeOpenAIServer(reply, word_delay_s=0.02) as server:
        model = get_model("openai/fake", settings_for(server.api_base))
        with pytest.raises(KeyError), model.stream([{"role": "user", "content": "hi"}]) as deltas:
            next(iter(deltas))
            raise KeyError("a bug in the caller, not the provider")
        assert server.disconnected.wait(5)


# -- provider faults, each against a misbehaving server on 127.0.0.1 -------------------------------


def test_429_is_retried_after_the_servers_retry_after_then_answers() -> None:
    with FakeOpenAIServer("Recovered.", statuses=[429, 429], retry_after=0.6) as server:
        assert get_model("openai/fake", settings_for(server.api_base, retries=2)).complete(HI) == "Recovered."
        gaps = [b - a for a, b in zip(server.request_times, server.request_times[1:], strict=False)]
        assert len(server.requests) == 3 and all(gap >= 0.5 for gap in gaps), gaps


def test_5xx_is_retried_with_backoff_and_bounded() -> None:
    with FakeOpenAIServer(status=503) as server:
        started = time.monotonic()
        cause = r"openai/fake failed \(ServiceUnavailableError\): HTTP 503: fake failure$"
        with pytest.raises(ProviderError, match=cause):
            get_model("openai/fake", settings_for(server.api_base, retries=2)).complete(HI)
        assert len(server.requests) == 3  # the call and two retries, no more
        assert server.request_times[2] - server.request_times[1] > server.request_times[1] - server.request_times[0]
        assert time.monotonic() - started < 10


def test_429_past_the_retries_is_rate_limited() -> None:
    with FakeOpenAIServer(status=429, retry_after=0.2) as server, pytest.raises(ProviderRateLimited):
        get_model("openai/fake", settings_for(server.api_base, retries=1)).complete(HI)
    assert len(server.requests) == 2


def test_401_is_never_retried_and_the_key_never_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    canary = "sk-canary-7f3a9c1e5b"
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    with FakeOpenAIServer(status=401, error_message=f"Incorrect API key provided: {canary}") as server:
        with pytest.raises(ProviderAuthError) as raised:
            get_model("openai/fake", settings_for(server.api_base, retries=2)).complete(HI)
        assert len(server.requests) == 1
        assert server.headers[0]["Authorization"] == f"Bearer {canary}"  # it was sent, to this server only
    assert canary not in str(raised.value) and "***" in str(raised.value)


def test_a_malformed_stream_is_a_provider_error() -> None:
    with FakeOpenAIServer(malformed=True) as server, pytest.raises(ProviderError, match="openai/fake"):
        get_model("openai/fake", settings_for(server.api_base)).complete(HI)


def test_a_connection_dropped_mid_reply_is_not_taken_as_the_whole_reply() -> None:
    with (
        FakeOpenAIServer("Half of an answer that never ends", drop_after=3) as server,
        pytest.raises(ProviderUnreachable, match="closed mid-reply"),
    ):
        get_model("openai/fake", settings_for(server.api_base)).complete(HI)


def test_the_embedded_backend_is_never_retried() -> None:
    assert get_model("embedded/qwen2.5-0.5b", settings_for(retries=3)).retries == 0
    assert get_model("openai/fake", settings_for(retries=3)).retries == 3


def test_a_long_retry_after_is_cut_at_the_budget_not_waited_out() -> None:
    """openai-python honours Retry-After up to 120 s per retry; we stop at (retries + 1) x timeout_s + backoff."""
    with FakeOpenAIServer(status=429, retry_after=100) as server:
        model = get_model("openai/fake", settings_for(server.api_base, timeout_s=1.0, retries=1))
        started = time.monotonic()
        with pytest.raises(ProviderTimeout, match="no reply within 10s"):
            model.complete(HI)
        assert time.monotonic() - started < model.budget_s + 2 and model.budget_s == 10.0


def test_messages_say_what_really_happened() -> None:
    refused = provider_error_of("http://127.0.0.1:9/v1")
    assert isinstance(refused, ProviderUnreachable) and "at http://127.0.0.1:9/v1" in str(refused)
    assert "HTTP 500" not in str(refused)  # litellm calls a refused connection a 500; nothing answered
    with FakeOpenAIServer(status=500, error_message="boom \x1b]0;PWNED\x07 \x1b[31mred") as server:
        failed = provider_error_of(server.api_base)
    assert "HTTP 500: boom" in str(failed) and "\x1b" not in str(failed) and "\x07" not in str(failed)


def test_a_missing_key_is_an_auth_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ProviderAuthError, match="no API key"):
        get_model("openai/gpt-4o-mini", settings_for()).complete(HI)


def provider_error_of(api_base: str) -> ProviderError:
    with pytest.raises(ProviderError) as raised:
        get_model("openai/fake", settings_for(api_base)).complete(HI)
    return raised.value


# -- reasoning, tool calls, cut replies (issue 21, item 7) -------------------------------------------

ANSWER = "Sparse routing cuts latency [1]."


def reply_of(deltas: list[dict], finish: str = "stop") -> tuple[str, Any]:
    """(the answer text, the Reply) for a fake reply sent as these deltas."""
    with FakeOpenAIServer(deltas=deltas, finish_reason=finish) as server:
        model = get_model("openai/fake", settings_for(server.api_base))
        text = ""
        with model.stream(HI) as reply:
            for delta in reply:
                text = delta if reply.restarted else text + delta
        return text, reply


@pytest.mark.parametrize(
    "deltas",
    [
        [{"content": "<think>I should cite [1]. Sure.</think>\n\n" + ANSWER}],
        # the tags split across deltas, in every place
        [{"content": piece} for piece in ("<", "thi", "nk>Reason", "ing.</th", "ink", ">", ANSWER)],
        [{"content": "<THINKING>Hmm.</THINKING>"}, {"content": ANSWER}],
        # a closing tag the reply never opened (the chat template opened it in the prompt)
        [{"content": "The user asks about latency. Paper [1] fits."}, {"content": "</think>\n" + ANSWER}],
        # reasoning in its own field
        [{"reasoning_content": "Let me think about [1]."}, {"content": ANSWER}],
    ],
)
def test_reasoning_never_reaches_the_answer_text(deltas: list[dict]) -> None:
    text, _ = reply_of(deltas)
    assert text == ANSWER


def test_a_reply_that_is_only_reasoning_is_an_error_saying_so() -> None:
    with pytest.raises(ProviderEmptyReply, match=r"openai/fake wrote only its reasoning \(23 characters\), no answer"):
        reply_of([{"reasoning_content": "Let me think about [1]."}])
    with pytest.raises(ProviderEmptyReply, match="wrote only its reasoning"):  # never closed
        reply_of([{"content": "<think>Let me think"}, {"content": " about [1]. The answer is"}])
    with pytest.raises(ProviderEmptyReply, match=r"wrote only its reasoning .*, until it was cut at llm\.max_tokens"):
        reply_of([{"content": "<think>Let me think"}], finish="length")


def test_a_tool_call_instead_of_an_answer_is_an_error_naming_the_tool() -> None:
    call = {"index": 0, "id": "c1", "type": "function", "function": {"name": "search_papers", "arguments": "{}"}}
    with pytest.raises(ProviderEmptyReply, match=r"asked to call a tool \(search_papers\) instead of answering"):
        reply_of([{"tool_calls": [call]}], finish="tool_calls")


def test_an_empty_reply_is_an_error() -> None:
    with pytest.raises(ProviderEmptyReply, match="openai/fake sent an empty reply; nothing was generated"):
        reply_of([])
    with pytest.raises(ProviderEmptyReply, match="sent an empty reply"):
        reply_of([{"content": "  \n "}])


def test_a_reply_cut_at_max_tokens_loses_its_unfinished_sentence_with_a_note() -> None:
    text, reply = reply_of([{"content": ANSWER + " Dense models are"}], finish="length")
    assert reply.cut and reply.settle(text) == ANSWER
    assert reply.notes == [
        "The model's reply was cut at llm.max_tokens (64 tokens); an unfinished last sentence was left out."
    ]
    text, reply = reply_of([{"content": ANSWER}])
    assert not reply.cut and reply.settle(text) == ANSWER and reply.notes == []


def test_complete_keeps_only_the_answer() -> None:
    with FakeOpenAIServer(deltas=[{"content": "Reasoning.</think>"}, {"content": ANSWER}]) as server:
        assert get_model("openai/fake", settings_for(server.api_base)).complete(HI) == ANSWER


# -- reasoning in the formats other servers write raw (fresh-helper review of issue 21, item 7) ------


@pytest.mark.parametrize(
    "deltas",
    [
        # Mistral's Magistral, written raw by a server without a reasoning parser
        [{"content": "[THINK]The user wants [1]. Maybe latency doubles.[/THINK]"}, {"content": ANSWER}],
        # ByteDance Seed-OSS, split inside both tags
        [{"content": piece} for piece in ("<seed:th", "ink>Maybe [1] says latency doubles.</seed:", "think>", ANSWER)],
        # Kimi
        [{"content": "◁think▷Maybe [1] says latency doubles.◁/think▷"}, {"content": ANSWER}],
        # an opening tag with attributes
        [{"content": '<think type="deep">Maybe [1] says latency doubles.</think>'}, {"content": ANSWER}],
        # gpt-oss's harmony format, not parsed by the server, its tokens split across deltas
        [
            {"content": piece}
            for piece in (
                "<|channel|>analy",
                "sis<|mess",
                "age|>Maybe [1] says latency doubles.<|e",
                "nd|><|start|>assistant<|channel|>final<|message|>",
                ANSWER,
                "<|return|>",
            )
        ],
    ],
)
def test_reasoning_in_other_servers_formats_never_reaches_the_answer_text(deltas: list[dict]) -> None:
    text, reply = reply_of(deltas)
    assert text == ANSWER
    assert not any("never opened" in note for note in reply.notes)


def test_text_that_only_looks_like_a_tag_start_is_kept() -> None:
    text, _ = reply_of([{"content": "Latency falls when k [1"}, {"content": "] < 3 and <b> is small [1]."}])
    assert text == "Latency falls when k [1] < 3 and <b> is small [1]."


def test_a_reply_stopped_by_the_content_filter_loses_its_unfinished_sentence_with_a_note() -> None:
    text, reply = reply_of([{"content": ANSWER + " Dense models are"}], finish="content_filter")
    assert reply.cut and reply.settle(text) == ANSWER
    assert reply.notes == [
        "The model's reply was cut by the provider's content filter (finish_reason content_filter); "
        "an unfinished last sentence was left out."
    ]
