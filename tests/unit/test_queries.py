"""Every named query in sql/queries.sql is used by the code, and every name the code asks for
exists: a query nobody runs is dead weight a reviewer still has to read and keep correct."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
QUERIES = ROOT / "sql" / "queries.sql"
_HEADER = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)
# q("name"), queries.q("name"), queries.vopi("name", ...), raw("name") and a VOPI source's
# wrapped("name") (an engine's form of a [vopi] query): how named queries are asked for.
_CALL = re.compile(r"""\b(?:q|vopi|raw|wrapped)\(\s*["'](\w+)["']""")


def defined() -> list[str]:
    return _HEADER.findall(QUERIES.read_text(encoding="utf-8"))


def used() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "vopi_obvo").rglob("*.py")):
        for name in _CALL.findall(path.read_text(encoding="utf-8")):
            found.setdefault(name, []).append(path.relative_to(ROOT).as_posix())
    return found


def test_every_named_query_is_used() -> None:
    unused = sorted(set(defined()) - set(used()))
    assert not unused, (
        "sql/queries.sql has queries no module under vopi_obvo/ runs; remove them "
        "(or ask for them by a literal name: q('x'), queries.vopi('x', ...), wrapped('x')): "
        + ", ".join(unused)
    )


def test_every_query_the_code_asks_for_exists() -> None:
    names = set(defined())
    missing = {name: paths for name, paths in used().items() if name not in names}
    assert not missing, "\n".join(
        f'q("{name}") in {", ".join(sorted(set(paths)))}: no "-- name: {name}" in sql/queries.sql'
        for name, paths in sorted(missing.items())
    )


def test_query_names_are_unique() -> None:
    twice = sorted(name for name, count in Counter(defined()).items() if count > 1)
    assert not twice, f"sql/queries.sql defines these names more than once: {', '.join(twice)}"


def test_the_scan_finds_the_known_calls() -> None:
    # The checks above are only as good as the scan: these calls are known to be in the code.
    calls = used()
    assert "vopi_obvo/store.py" in calls["subscribers_for_parties"]
    assert "vopi_obvo/source/vopi.py" in calls["vopi_events_after"]
    assert len(defined()) > 100
