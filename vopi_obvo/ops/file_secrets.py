"""`obvo check` warns when a file holding a password or token can be read by every user, or a
private key by anyone but its owner (the portal refuses to start with such a key)."""

from __future__ import annotations

import re
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

_SECRET_KEY = re.compile(r"(password|token|tokens|secret)$", re.IGNORECASE)
# postgresql://user:password@host/db (a password in a URL)
_URL_PASSWORD = re.compile(r"^[a-z+]+://[^/@:]*:[^/@]+@", re.IGNORECASE)


def _is_secret(key: str, value: Any) -> bool:
    if not value:
        return False
    if _SECRET_KEY.search(key):
        return True
    return isinstance(value, str) and bool(_URL_PASSWORD.match(value))


def toml_secrets(document: Mapping[str, Any]) -> list[str]:
    """The keys of a parsed configuration file that hold a secret, as `[section] key`."""
    return [
        f"[{section}] {key}"
        for section, table in document.items()
        if isinstance(table, Mapping)
        for key, value in table.items()
        if _is_secret(key, value)
    ]


def dotenv_secrets(values: Mapping[str, str | None]) -> list[str]:
    return [name for name, value in values.items() if _is_secret(name, value)]


def exposed_secrets(config_path: Path | None) -> list[str]:
    """One warning per world-readable file (the configuration, `.env` beside it) that holds
    a secret."""
    if config_path is None:
        return []
    warnings: list[str] = []
    for path in (config_path, config_path.parent / ".env"):
        try:
            mode = path.stat().st_mode
        except OSError:
            continue
        if not stat.S_ISREG(mode) or not mode & stat.S_IROTH:
            continue
        try:
            if path.name == ".env":
                held = dotenv_secrets(dotenv_values(path))
            else:
                held = toml_secrets(tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            continue
        if held:
            warnings.append(
                f"{path} can be read by every user of this machine (mode "
                f"{stat.S_IMODE(mode):04o}) and holds {', '.join(held)}: "
                f"chmod 640 {path} (owner root, group obvo), or move the secrets to the "
                "unit's EnvironmentFile (mode 600)"
            )
    return warnings


def exposed_private_key(name: str, key: str) -> str | None:
    """Why the private key file `name` (the setting `key`) is exposed, or None: a key must be
    readable by its owner only."""
    try:
        mode = Path(name).stat().st_mode
    except OSError:
        return None
    if not mode & (stat.S_IRGRP | stat.S_IROTH):
        return None
    return (
        f"{key} {name} can be read by other users (mode {stat.S_IMODE(mode):04o}): "
        f"chmod 600 {name} (owner: the portal's user)"
    )
