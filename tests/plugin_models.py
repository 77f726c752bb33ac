"""A model backend for tests, registered the way a third-party package registers one: through the
``papers.models`` entry-point group (the ``scripted_model`` fixture of ``tests/test_plugins.py``
installs the entry point). It answers in-process, no server and no network, with the text the test
sets: a fake of a model's output, used only to test our handling of what a model writes."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, ClassVar

from assistant.llm import Messages, Model, Reply

SCRIPT: list[str] = []  # the replies, one per call, the last repeated; a test sets SCRIPT[:] = [text, ...]
SEEN: list[Messages] = []  # the messages of every call


class _Stream(list):  # type: ignore[type-arg]
    """Chunks in the OpenAI streaming shape, ended as a provider ends them (finish_reason stop)."""

    received_finish_reason = "stop"


class ScriptedModel(Model):
    """``scripted/<anything>``: streams the call's ``SCRIPT`` text word by word."""

    prefix: ClassVar[str] = "scripted/"

    def completion_args(self) -> dict[str, Any]:
        return {"model": self.name}

    @contextlib.contextmanager
    def stream(self, messages: Messages, *, max_tokens: int | None = None) -> Iterator[Reply]:
        SEEN.append(messages)
        reply = SCRIPT[min(len(SEEN), len(SCRIPT)) - 1]  # the n-th call gets the n-th text (the last thereafter)
        texts: list[str | None] = [w + " " for w in reply.split(" ")] + [None]
        chunks = _Stream(_chunk(text, None if text is not None else "stop") for text in texts)
        cfg = self.settings.llm
        yield Reply(self.name, chunks, time.monotonic() + cfg.timeout_s, cfg, max_tokens or cfg.max_tokens)


def _chunk(content: str | None, finish_reason: str | None) -> SimpleNamespace:
    choice = SimpleNamespace(delta=SimpleNamespace(content=content), finish_reason=finish_reason)
    return SimpleNamespace(choices=[choice])
