"""The project's error hierarchy: the CLIs and the UI turn any ``PapersError`` into one clear line.

PapersError
├── ConfigError          bad settings or config file
├── InputError           nothing usable in the given paths
├── IndexError_          missing, locked or mismatched index
│   ├── IndexMissingError
│   ├── IndexLockedError
│   └── IndexMismatchError
├── ModelError           a packaged model is not installed or fails its checksum
└── ProviderError        the LLM provider failed (bad reply, or one of:)
    ├── ProviderTimeout      no answer within llm.timeout_s
    ├── ProviderAuthError    the key was refused (401/403)
    ├── ProviderRateLimited  429 from the provider
    └── ProviderUnreachable  connection refused or dropped

Exit codes (``assistant.cli``): 0 ok, 1 a PapersError (the message on stderr), 2 a usage error.
"""

from __future__ import annotations


class PapersError(Exception):
    """Base class: anything the user can act on. ``str(err)`` is the message to show."""


class ConfigError(PapersError):
    pass


class InputError(PapersError):
    pass


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
