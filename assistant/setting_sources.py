"""Setting sources: the TOML file settings are read from, and which source gave a setting its value.

``assistant.settings`` reads keyword arguments, ``PAPERS_*`` variables and this file, in that order
of precedence; when a value is invalid, :func:`source_of` names the one it came from (never the value).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path


def config_file() -> Path | None:
    """The TOML file settings are read from: ``$PAPERS_CONFIG`` (which must be a file), else
    ``config.toml`` in the working directory when there is one. ConfigError names what is wrong."""
    from assistant.errors import ConfigError

    named = os.environ.get("PAPERS_CONFIG")
    if named is not None:  # a typo must not mean "defaults"
        path = Path(named)
        if not named.strip():
            raise ConfigError("PAPERS_CONFIG is set but empty: name a TOML file, or unset it")
        if path.is_dir():
            raise ConfigError(f"PAPERS_CONFIG names a folder, not a TOML file: {path}")
        if not path.exists():
            raise ConfigError(f"PAPERS_CONFIG names a file that does not exist: {path}")
        return path
    path = Path("config.toml")
    if path.is_dir():
        raise ConfigError(f"config.toml in {Path.cwd()} is a folder, not a TOML file")
    return path if path.exists() else None


def source_of(loc: tuple[object, ...], overrides: dict[str, object], toml: Path | None) -> str:
    """Where the value of the setting at ``loc`` came from: a flag, a variable, the file, or the defaults."""
    parts = [str(p) for p in loc if isinstance(p, str) and p.isidentifier() and not p[:1].isupper()]
    if parts and parts[0] in overrides:
        return "a command-line option"
    variables = {k.upper(): k for k in os.environ if k.upper().startswith("PAPERS_")}
    for end in range(len(parts), 0, -1):
        name = "PAPERS_" + "__".join(p.upper() for p in parts[:end])
        if name in variables:
            return variables[name]
    if toml is not None:
        try:
            node: object = tomllib.loads(toml.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return str(toml)
        for part in parts:
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        else:
            return str(toml)
    return "the defaults"
