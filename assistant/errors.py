"""The project's error hierarchy: the CLIs and the UI turn any ``PapersError`` into one clear line.

PapersError
├── ConfigError          bad settings or config file
├── InputError           nothing usable in the given paths
│   ├── EmptyQuestion        a blank question (every door: CLI exit 2, UI message, API 422)
│   └── UnsupportedLanguage  a question no model could translate to English
├── IndexError_          missing, locked or mismatched index
│   ├── IndexMissingError
│   ├── IndexLockedError
│   └── IndexMismatchError
├── ModelError           a packaged model is not installed or fails its checksum
├── ClusterError         ``ingest --ray``: Ray is not installed, the cluster is unreachable or failed
├── FetchError           ``papers fetch``: a source answered with an error, or not at all after retries
└── ProviderError        the LLM provider failed (bad reply, or one of:)
    ├── ProviderTimeout      no answer within llm.timeout_s
    ├── ProviderAuthError    the key was refused (401/403)
    ├── ProviderRateLimited  429 from the provider
    ├── ProviderUnreachable  connection refused or dropped
    └── ProviderEmptyReply   no answer text: nothing, only reasoning, only a tool call

Exit codes (``assistant.cli``): 0 ok, 1 a PapersError (the message on stderr), 2 a usage error.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, NoReturn

EXIT_ERROR = 1  # a PapersError: something the user can act on, named in the message
EXIT_USAGE = 2  # click's own code for usage errors (bad option, empty question, --k out of range)


class PapersError(Exception):
    """Base class: anything the user can act on. ``str(err)`` is the message to show."""


class ConfigError(PapersError):
    pass


class InputError(PapersError):
    pass


class EmptyQuestion(InputError):
    """Nothing is left of the question once control characters and whitespace are removed."""


class UnsupportedLanguage(InputError):
    """A question not in English, and no model could translate it (retrieval is English-only)."""


class IndexError_(PapersError):
    pass


class IndexMissingError(IndexError_):
    pass


class IndexLockedError(IndexError_):
    pass


class IndexMismatchError(IndexError_):
    pass


class ModelError(PapersError):
    pass


class ClusterError(PapersError):
    """``ingest --ray``: Ray Data is not installed, no Ray cluster answers at the address given, or
    encoding on it failed (``ingest.distributed``)."""


class FetchError(PapersError):
    """``papers fetch``: a paper source (the Daily Papers or arXiv API) gave an error, a response that is
    not what it should be (not JSON, not an Atom feed, an arXiv error entry), or no answer after the
    retries; the message names the URL (``ingest.fetch``)."""


class ProviderError(PapersError):
    pass


class ProviderTimeout(ProviderError):
    pass


class ProviderAuthError(ProviderError):
    pass


class ProviderRateLimited(ProviderError):
    pass


class ProviderUnreachable(ProviderError):
    pass


class ProviderEmptyReply(ProviderError):
    """The reply held no answer text: it was empty, only reasoning (``reasoning_content`` or a
    ``<think>`` block), only a tool call, or cut at ``llm.max_tokens`` before any answer."""


# -- the one mapping from errors to messages and exit codes (every command: CLI and UI launcher) --


_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$", re.I)


_TERMINAL = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])"  # ECMA-48 escapes
    r"|\x9b[0-?]*[ -/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f-\x9f]"  # 8-bit CSI, C0 and C1 controls
    r"|[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"  # zero-width and bidi controls
)


def redact(text: str) -> str:
    """``text`` safe to show: the value of every secret-looking environment variable (a name ending
    in KEY, TOKEN, SECRET, PASSWORD, ...; values of 6+ characters) replaced by ``***`` (provider
    errors sometimes echo the key they were sent, and no key may reach a log, a message or
    ``--json``), and terminal escapes and control characters removed (a server's error text must
    not drive the user's terminal)."""
    values = sorted({v for k, v in os.environ.items() if _SECRET_NAME.search(k) and len(v) >= 6}, key=len, reverse=True)
    for value in values:
        text = text.replace(value, "***")
    return _TERMINAL.sub("", text)


def fail(message: str, as_json: bool = False) -> NoReturn:
    """Print ``error: <message>`` on stderr (and ``{"error": message}`` on stdout with ``--json``), exit 1."""
    import click

    message = redact(message)

    if as_json:
        click.echo(json.dumps({"error": message}))
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: a PapersError (or an OSError: a path that cannot be used) raised by ``func`` becomes
    :func:`fail` (``as_json`` read from kwargs)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PapersError as exc:
            fail(str(exc), bool(kwargs.get("as_json")))
        except BrokenPipeError:  # `ask … | head -1`: the reader left; nothing to say, and no one to say it to
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(EXIT_ERROR)
        except OSError as exc:  # a path that cannot be used (a file where a folder should be, no space)
            where = f" ({exc.filename})" if exc.filename else ""
            fail(f"{exc.strerror or exc}{where}", bool(kwargs.get("as_json")))
        except Exception as exc:  # a server (the Chroma server) went away mid-run: one line, no traceback
            if type(exc).__module__.split(".")[0] != "httpx":
                raise
            request = getattr(exc, "_request", None)
            where = f" to {request.url.host}:{request.url.port}" if request is not None else ""
            message = redact(f"the connection{where} failed ({type(exc).__name__}: {exc}); is the server running?")
            fail(message, bool(kwargs.get("as_json")))

    return wrapper
