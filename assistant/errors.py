"""The project's error hierarchy: the CLIs and the UI turn any ``PapersError`` into one clear line.

PapersError
├── ConfigError          bad settings or config file
├── InputError           nothing usable in the given paths
├── IndexError_          missing, locked or mismatched index
│   ├── IndexMissingError
│   ├── IndexLockedError
│   └── IndexMismatchError
├── ModelError           a packaged model is not installed or fails its checksum
└── ProviderError        the LLM provider failed (bad key, unreachable, timeout, bad reply)
    └── ProviderTimeout
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
