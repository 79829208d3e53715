"""Files shipped beside the code: SQL and example configuration.

In a wheel they live inside the package (`vopi_obvo/sql`, `vopi_obvo/config`); in a source
checkout or an editable install they are the repository's top-level `sql/` and `config/`.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    for candidate in (_PACKAGE_DIR / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the '{name}' directory is missing from this installation")


def sql_path(*parts: str) -> Path:
    return resource_dir("sql").joinpath(*parts)


def config_path(*parts: str) -> Path:
    return resource_dir("config").joinpath(*parts)
