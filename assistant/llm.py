"""The LLM seam: a small ``Model`` interface, backends registered by model-name prefix.

In the style of simonw/llm's ``Model``: a backend knows how to stream a chat for one model string
and nothing else. Two ship here, both reached through litellm:

- ``embedded/<name>`` (:class:`EmbeddedModel`): a packaged GGUF served in-process by llama.cpp on
  127.0.0.1 (``assistant.embedded``), spoken to as an OpenAI-compatible server;
- anything else (:class:`LiteLLMModel`): any litellm model string (``openai/gpt-4o-mini``,
  ``ollama/llama3.2``, ``hosted_vllm/...``) with the provider's usual environment variables.

A new backend is a subclass with a ``prefix``, registered by :func:`register` or, from another
package, through the ``papers.models`` entry-point group (:func:`load_plugins`), as the two here are.
Streams are context managers and are always closed (closing the HTTP response is what tells a server to stop
generating). Provider failures are mapped by exception type (:func:`provider_error`) to the
``ProviderError`` family, never by message text.

Usage::

    model = get_model("embedded/qwen2.5-0.5b", settings)
    with model.stream(messages) as reply:
        for text in reply: ...   # reasoning removed; see Reply for restarts, notes and cut replies
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from assistant.errors import (
    ProviderAuthError,
    ProviderEmptyReply,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnreachable,
    redact,
)
from assistant.reasoning import ThinkFilter, without_unfinished_sentence

if TYPE_CHECKING:
    from assistant.settings import Settings

Messages = list[dict[str, str]]


class Model:
    """One model string and the settings it runs under. Subclasses give ``completion_args``."""

    prefix: ClassVar[str] = ""

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.settings = settings

    def completion_args(self) -> dict[str, Any]:
        """litellm keyword arguments naming the model (and where to reach it)."""
        raise NotImplementedError

    @contextlib.contextmanager
    def stream(self, messages: Messages, *, max_tokens: int | None = None) -> Iterator[Reply]:
        """Yield the :class:`Reply` (an iterable of answer-text deltas, reasoning removed); the
        response is closed when the block exits, however it exits.

        Raises ``ProviderError`` (or a subclass) for any provider failure, ``ProviderEmptyReply``
        when the reply holds no answer text; nothing outlives ``llm.timeout_s`` (litellm's own
        timeout bounds each read, and a deadline bounds the whole).
        """
        cfg = self.settings.llm
        args = self.completion_args()  # a model that cannot be loaded raises its own ModelError
        import litellm

        litellm.telemetry = False
        litellm.suppress_debug_info = True
        response = None
        try:
            try:
                response = self._open(
                    litellm.completion,
                    messages=messages,
                    stream=True,
                    timeout=cfg.timeout_s,
                    max_tokens=max_tokens or cfg.max_tokens,
                    temperature=cfg.temperature,
                    # retries: litellm hands max_retries to the provider's client, which retries only
                    # 408/409/429/5xx, a dropped connection and a timeout, with exponential backoff
                    # honouring Retry-After (openai-python); litellm's own num_retries would retry a
                    # 401 too, and without waiting
                    max_retries=self.retries,
                    **args,
                )
            except ProviderError:
                raise
            except Exception as exc:  # only the provider's failures are provider errors
                raise provider_error(self.name, exc, args.get("api_base")) from exc
            # errors while reading the stream are mapped in _deltas; an exception raised by the
            # caller's own code in the with-block passes through unchanged
            yield Reply(self.name, response, time.monotonic() + cfg.timeout_s, cfg, max_tokens or cfg.max_tokens)
        finally:
            close_response(response)

    @property
    def retries(self) -> int:
        """Retries of one call on 429/5xx (``llm.retries``); a backend on this machine gets none."""
        return self.settings.llm.retries

    @property
    def budget_s(self) -> float:
        """The longest opening a stream may take, retries included: each attempt's ``timeout_s`` plus
        openai-python's largest backoff (8 s) between attempts. A server's ``Retry-After`` is honoured
        only within it (the client itself would wait up to 120 s per retry)."""
        return self.settings.llm.timeout_s * (self.retries + 1) + 8.0 * self.retries

    def _open(self, call: Callable[..., Any], **kwargs: Any) -> Any:
        """``call(**kwargs)`` (the request and its retries) on a worker thread, given up after
        ``budget_s`` (ProviderTimeout); a response that arrives after that is closed unread."""
        if self.retries == 0:
            return call(**kwargs)
        outcome: dict[str, Any] = {}
        lock = threading.Lock()
        done = threading.Event()

        def run() -> None:
            try:
                result = call(**kwargs)
            except BaseException as exc:  # handed to the caller's thread
                result, outcome["error"] = None, exc
            with lock:
                if outcome.get("abandoned"):
                    close_response(result)
                outcome["response"] = result
                done.set()

        threading.Thread(target=run, name=f"llm-open-{self.name}", daemon=True).start()
        if not done.wait(self.budget_s):
            with lock:
                if not done.is_set():
                    outcome["abandoned"] = True
                    raise ProviderTimeout(
                        f"{self.name}: no reply within {self.budget_s:.0f}s ({self.retries} retries of "
                        f"llm.timeout_s {self.settings.llm.timeout_s:g}s; the provider may be asking us to wait longer)"
                    )
        if "error" in outcome:
            raise outcome["error"]
        return outcome["response"]

    def complete(self, messages: Messages, *, max_tokens: int | None = None) -> str:
        """The whole answer text of the reply as one string (a convenience over ``stream``)."""
        text = ""
        with self.stream(messages, max_tokens=max_tokens) as reply:
            for delta in reply:
                text = delta if reply.restarted else text + delta
        return text

    def close(self) -> None:
        """Release what the backend holds (nothing for a hosted provider)."""


class Reply:
    """One streamed reply: iterate it for the answer text, delta by delta; reasoning never appears.

    ``<think>`` blocks in the content are removed (:class:`assistant.reasoning.ThinkFilter`) and
    ``reasoning_content`` is never read as text. When a delta comes with ``restarted`` set, all the
    text before it was reasoning (a ``</think>`` never opened): the consumer starts again from it.
    At the end, a reply with no answer text raises ``ProviderEmptyReply`` saying what came instead
    (nothing, only reasoning, only a tool call, or a cut at ``llm.max_tokens``); ``notes`` says what
    the user should know about a reply that did answer, and :meth:`settle` drops the unfinished
    last sentence of a reply cut at ``llm.max_tokens``.
    """

    def __init__(self, model: str, response: Any, deadline: float, cfg: Any, max_tokens: int) -> None:
        self.model = model
        self.finish_reason: str | None = None  # the provider's, once the stream ended
        self.restarted = False  # set while the delta just handed out starts the answer afresh
        self.tool_calls: list[str] = []
        self.notes: list[str] = []
        self._response, self._deadline, self._cfg, self._max_tokens = response, deadline, cfg, max_tokens
        self._reasoning_chars = 0  # reasoning_content received
        self._filter = ThinkFilter()

    @property
    def cut(self) -> bool:
        """Did the provider stop the reply before its end: at ``max_tokens``, or by its content filter?"""
        return self.finish_reason in ("length", "content_filter")

    def __iter__(self) -> Iterator[str]:
        try:
            yield from self._texts()
        except ProviderError:
            raise
        except Exception as exc:  # errors raised while streaming surface here, not at the call
            raise provider_error(self.model, exc) from exc
        self.restarted = False
        # litellm ends every stream with a finish_reason of its own; what the provider itself sent is
        # CustomStreamWrapper.received_finish_reason, None when the connection closed mid-reply
        received = getattr(self._response, "received_finish_reason", "unknown")
        if received is None:
            raise ProviderUnreachable(f"{self.model}: the connection closed mid-reply (no end of stream was sent)")
        if received != "unknown":
            self.finish_reason = received
        self._judge()

    def _texts(self) -> Iterator[str]:
        for chunk in self._response:
            if time.monotonic() > self._deadline:
                raise ProviderTimeout(f"{self.model} did not finish within {self._cfg.timeout_s:.0f}s (llm.timeout_s)")
            if not chunk.choices:
                continue
            choice = chunk.choices[0]
            delta = choice.delta
            if getattr(choice, "finish_reason", None):
                self.finish_reason = choice.finish_reason
            for field in ("reasoning_content", "reasoning"):  # the provider's separate reasoning channel
                value = getattr(delta, field, None)
                if isinstance(value, str):
                    self._reasoning_chars += len(value)
            for call in getattr(delta, "tool_calls", None) or []:
                function = getattr(call, "function", None)
                name = getattr(function, "name", None)
                if name and name not in self.tool_calls:
                    self.tool_calls.append(name)
                elif not name and not self.tool_calls:
                    self.tool_calls.append("unnamed")
            content = getattr(delta, "content", None)
            if content:
                text, restart = self._filter.feed(content)
                if text or restart:
                    self.restarted = restart
                    yield text
                    self.restarted = False
        tail = self._filter.finish()
        if tail:
            yield tail

    def _judge(self) -> None:
        """Raise ``ProviderEmptyReply`` for a reply without answer text; else note what was odd."""
        reasoning = self._reasoning_chars + self._filter.reasoning_chars
        limit = f"at llm.max_tokens ({self._max_tokens} tokens)"
        if self.finish_reason == "content_filter":
            limit = "by the provider's content filter (finish_reason content_filter)"
        if not self._filter.answered:
            if self.tool_calls:
                said = f"asked to call a tool ({', '.join(self.tool_calls)}) instead of answering"
            elif reasoning:
                said = f"wrote only its reasoning ({reasoning:,} characters), no answer"
                said += f", until it was cut {limit}" if self.cut else ""
            elif self.cut:
                said = f"was cut {limit} before writing anything"
            else:
                said = "sent an empty reply"
            raise ProviderEmptyReply(f"{self.model} {said}; nothing was generated")
        if self.cut:
            self.notes.append(f"The model's reply was cut {limit}; an unfinished last sentence was left out.")
        if self._filter.unclosed:
            self.notes.append("The model's reasoning after its answer (never closed) was left out.")
        if self._filter.unopened:
            self.notes.append("The model's reasoning (ended by a closing tag it never opened) was left out.")
        if self.tool_calls:
            self.notes.append(f"The model also asked to call a tool ({', '.join(self.tool_calls)}); that was ignored.")

    def settle(self, text: str) -> str:
        """``text`` (the answer text of this reply) as it may be checked: without the unfinished
        last sentence of a reply cut at ``llm.max_tokens``."""
        return without_unfinished_sentence(text) if self.cut else text


_REGISTRY: list[type[Model]] = []


def register(cls: type[Model]) -> type[Model]:
    """Class decorator: route model strings starting with ``cls.prefix`` to ``cls`` (longest prefix wins)."""
    _REGISTRY.append(cls)
    _REGISTRY.sort(key=lambda c: -len(c.prefix))
    return cls


PLUGIN_GROUP = "papers.models"
_plugins_loaded = False


def load_plugins() -> list[str]:
    """Register every backend another package names in the ``papers.models`` entry-point group (a
    ``Model`` subclass with its ``prefix``), once per process; the two shipped here register the
    same way (``pyproject.toml``). Returns the entry-point names loaded.

    Raises ``ModelError`` naming the entry point when one cannot be imported or is not a ``Model``."""
    global _plugins_loaded
    if _plugins_loaded:
        return []
    from importlib.metadata import entry_points

    from assistant.errors import ModelError

    loaded = []
    for point in entry_points(group=PLUGIN_GROUP):
        try:
            cls = point.load()
        except Exception as exc:  # a third-party module: any failure to import is its own
            raise ModelError(f"model plugin {point.name!r} ({point.value}) cannot be loaded: {exc}") from exc
        if not (isinstance(cls, type) and issubclass(cls, Model)):
            raise ModelError(f"model plugin {point.name!r} ({point.value}) is not a Model subclass")
        if cls not in _REGISTRY:
            register(cls)
        loaded.append(point.name)
    _plugins_loaded = True
    return loaded


def get_model(name: str | None, settings: Settings) -> Model:
    """The backend for ``name`` (default: ``settings.llm.model``): the registered class with the
    longest ``prefix`` that starts it (plugins included, :func:`load_plugins`)."""
    load_plugins()
    name = name or settings.llm.model
    backend = next(cls for cls in _REGISTRY if name.startswith(cls.prefix))
    return backend(name, settings)


@register
class LiteLLMModel(Model):
    """Any litellm model string; ``llm.api_base`` overrides the provider's URL when set."""

    prefix = ""

    def completion_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"model": self.name}
        # api_base belongs to the configured model only: another model picked per question (the UI's
        # dropdown, --model) goes to its provider's own URL, so its key never reaches that host
        if self.settings.llm.api_base and self.name == self.settings.llm.model:
            args["api_base"] = self.settings.llm.api_base
            if self.name.startswith("openai/") and not os.environ.get("OPENAI_API_KEY"):
                args["api_key"] = "none"  # local OpenAI-compatible servers need no key; litellm wants one
        return args


@register
class EmbeddedModel(Model):
    """A packaged GGUF served in this process (started once per process, then shared)."""

    prefix = "embedded/"

    def completion_args(self) -> dict[str, Any]:
        from assistant.embedded import get_server

        cfg = self.settings.llm
        server = get_server(self.name.removeprefix(self.prefix), self.settings.cache, cfg.threads, cfg.context)
        return {"model": f"openai/{server.model_name}", "api_base": server.api_base, "api_key": "embedded"}

    @property
    def retries(self) -> int:
        return 0  # in this process: a failure is not transient, and waiting would only delay the fallback


def close_response(response: Any) -> None:
    """Close a litellm stream and the HTTP response under it (so the server stops generating)."""
    if response is None:
        return
    for target in (getattr(response, "completion_stream", None), response):
        closer: Callable[[], object] | None = getattr(target, "close", None)
        if callable(closer):
            with contextlib.suppress(Exception):
                closer()


# "litellm.RateLimitError: RateLimitError: OpenAIException - slow down" says "slow down"
_LITELLM_PREFIX = re.compile(r"^(?:litellm\.\w+: )?(?:\w+Error: )*(?:\w+Exception - )?")


def provider_error(model: str, exc: BaseException, where: str | None = None) -> ProviderError:
    """Map a litellm / openai / httpx exception, by type, to our ``ProviderError`` family; ``where``
    (the URL called, when not the provider's default) is named when it cannot be reached."""
    text = redact(_LITELLM_PREFIX.sub("", str(exc).splitlines()[0]) if str(exc) else type(exc).__name__)
    kinds = _provider_exception_types()
    # litellm wraps the transport error (e.g. a refused connection arrives as InternalServerError
    # caused by openai.APIConnectionError caused by httpx.ConnectError): look down the whole chain
    chain: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and link not in chain:
        chain.append(link)
        link = link.__cause__ or link.__context__

    def any_of(kind: str) -> bool:
        return any(isinstance(e, kinds[kind]) for e in chain)

    # litellm re-raises everything as its own subclasses of openai's classes, a refused connection as
    # "InternalServerError 500" and a malformed stream as "APIConnectionError": what really happened
    # is the first exception in the chain that litellm did not make
    real = [e for e in chain if not type(e).__module__.startswith("litellm")]
    transport = any(isinstance(e, kinds["transport"]) for e in real) or (not real and any_of("connection"))
    status = getattr(exc, "status_code", None) if not transport else None
    said = f"HTTP {status}: {text}" if isinstance(status, int) and 400 <= status < 600 else text
    if any_of("timeout"):
        return ProviderTimeout(f"{model} timed out (llm.timeout_s): {text}")
    if any_of("auth"):
        return ProviderAuthError(f"{model}: authentication failed (check the API key variable): {said}")
    if any(type(e) in kinds["no_key"] for e in chain):  # raised before any request: no key configured
        return ProviderAuthError(f"{model}: no API key (set the provider's key variable, e.g. OPENAI_API_KEY): {text}")
    if transport:
        return ProviderUnreachable(f"{model}: cannot reach the provider{f' at {where}' if where else ''}: {text}")
    if any_of("rate"):
        return ProviderRateLimited(f"{model}: rate limited by the provider: {said}")
    return ProviderError(f"{model} failed ({type(exc).__name__}): {said}")


def _provider_exception_types() -> dict[str, tuple[type[BaseException], ...]]:
    import httpx
    import litellm
    import openai

    return {
        "timeout": (litellm.Timeout, openai.APITimeoutError, httpx.TimeoutException, TimeoutError),
        "auth": (litellm.AuthenticationError, litellm.PermissionDeniedError, openai.AuthenticationError),
        "rate": (litellm.RateLimitError, openai.RateLimitError),
        "connection": (litellm.APIConnectionError, openai.APIConnectionError, httpx.TransportError, ConnectionError),
        "transport": (openai.APIConnectionError, httpx.TransportError, ConnectionError),  # not litellm's
        "no_key": (openai.OpenAIError,),  # exactly this type: the client refused to start without a key
    }
