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
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnreachable,
)
from assistant.llm import EmbeddedModel, LiteLLMModel, Model, get_model, provider_error, register
from assistant.settings import LLMSettings, Settings
from tests.fake_llm import FakeOpenAIServer


def settings_for(api_base: str | None = None, timeout_s: float = 20.0) -> Settings:
    return Settings(llm=LLMSettings(api_base=api_base, timeout_s=timeout_s, max_tokens=64))


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


def test_api_base_applies_to_litellm_models_only() -> None:
    settings = settings_for(api_base="http://127.0.0.1:1/v1")
    assert get_model("openai/x", settings).completion_args()["api_base"] == "http://127.0.0.1:1/v1"


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
            get_model("openai/fake", settings_for(server.api_base, timeout_s=1.5)).complete(
                [{"role": "user", "content": "hi"}]
            )
        assert time.monotonic() - started < 8


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
