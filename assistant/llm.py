"""Every LLM call goes through litellm; ``embedded/<name>`` is served in-process first.

The one seam per backend: ``resolve`` turns the settings' model string into litellm arguments.
A hosted model uses its usual environment variables (OPENAI_API_KEY, ...); an embedded one starts
(once per process) a llama.cpp server on 127.0.0.1 and is reached as ``openai/<name>``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from assistant.errors import ProviderError, ProviderTimeout
from assistant.settings import EMBEDDED_PREFIX

if TYPE_CHECKING:
    from assistant.settings import Settings


def resolve(model: str, settings: Settings) -> dict[str, Any]:
    """litellm keyword arguments for ``model``; starts the embedded server when needed."""
    if model.startswith(EMBEDDED_PREFIX):
        from assistant.embedded import get_server

        server = get_server(
            model.removeprefix(EMBEDDED_PREFIX), settings.cache, settings.llm.threads, settings.llm.context
        )
        return {"model": f"openai/{server.model_name}", "api_base": server.api_base, "api_key": "embedded"}
    args: dict[str, Any] = {"model": model}
    if settings.llm.api_base:
        args["api_base"] = settings.llm.api_base
        if model.startswith("openai/") and not os.environ.get("OPENAI_API_KEY"):
            args["api_key"] = "none"  # local OpenAI-compatible servers need no key; litellm wants one
    return args


def stream_chat(messages: list[dict[str, str]], settings: Settings, model: str | None = None) -> Iterator[str]:
    """Yield text deltas; any provider failure becomes a ProviderError, and nothing outlives the timeout."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch the cost map
    model = model or settings.llm.model
    timeout = settings.llm.timeout_s
    args = resolve(model, settings)
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    deadline = time.monotonic() + timeout
    try:
        response = litellm.completion(
            messages=messages,
            stream=True,
            timeout=timeout,
            max_tokens=settings.llm.max_tokens,
            temperature=settings.llm.temperature,
            num_retries=0,
            **args,
        )
        for chunk in response:
            if time.monotonic() > deadline:
                raise ProviderTimeout(f"{model} did not finish within {timeout:.0f}s (llm.timeout_s)")
            delta = chunk.choices[0].delta.content if chunk.choices else None
            if delta:
                yield delta
    except ProviderError:
        raise
    except Exception as exc:  # litellm maps provider errors to many classes; report them uniformly
        raise _provider_error(model, exc) from exc


def _provider_error(model: str, exc: Exception) -> ProviderError:
    name = type(exc).__name__
    text = str(exc).splitlines()[0] if str(exc) else name
    if "Timeout" in name or "timed out" in text.lower():
        return ProviderTimeout(f"{model} timed out: {text}")
    if "Authentication" in name:
        return ProviderError(f"{model}: authentication failed (check the API key variable): {text}")
    if "Connection" in name or "APIConnection" in name:
        return ProviderError(f"{model}: cannot reach the provider: {text}")
    return ProviderError(f"{model} failed ({name}): {text}")
