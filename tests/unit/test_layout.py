"""The tree, the module map in docs/architecture.md and the import contracts agree.

A module under vopi_obvo/ that the map does not list, a map line for a module that is gone, a
line under the wrong package heading, and a module called pure in the map that the `pure`
import contracts in pyproject.toml do not check (or the other way round) each fail here with
the exact line to add or remove.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "vopi_obvo"
MAP = ROOT / "docs" / "architecture.md"
PYPROJECT = ROOT / "pyproject.toml"
SECTION = "## Module map"
# A map line: - `vopi_obvo/messages/storm.py` (pure): the job, or (I/O: what it touches): ...
_ENTRY = re.compile(r"^- `(?P<path>vopi_obvo/[\w/]+\.py)` \((?P<kind>pure|I/O: [^)]+)\): \S")
_HEADING = re.compile(r"^### `(?P<package>vopi_obvo/(?:[\w/]+/)?)`")
# Packages being built elsewhere, named in the contracts by their submodules (`.**`) until
# they exist, because import-linter refuses a module that is not there.
COMING_PACKAGES = ("vopi_obvo.console",)


@dataclass(frozen=True)
class Entry:
    path: str
    pure: bool
    heading: str | None
    line: int


def map_entries() -> list[Entry]:
    lines = MAP.read_text(encoding="utf-8").splitlines()
    start = lines.index(SECTION)
    entries: list[Entry] = []
    heading: str | None = None
    for number, line in enumerate(lines[start + 1 :], start=start + 2):
        if line.startswith("## "):
            break
        if found := _HEADING.match(line):
            heading = found["package"]
        elif found := _ENTRY.match(line):
            entries.append(Entry(found["path"], found["kind"] == "pure", heading, number))
        elif line.startswith("- `vopi_obvo/"):
            raise AssertionError(
                f"docs/architecture.md line {number} is not a map line "
                f"'- `vopi_obvo/<path>.py` (pure|I/O: <what it touches>): <its job>': {line}"
            )
    return entries


def _only_docstring(path: Path) -> bool:
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body)


def tree_modules() -> list[str]:
    """Every module under vopi_obvo/; a package's __init__ only when it holds code."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__init__.py" and _only_docstring(path):
            continue
        found.append(path.relative_to(ROOT).as_posix())
    return found


def package_heading(module_path: str) -> str:
    return module_path.rsplit("/", 1)[0] + "/"


def dotted(module_path: str) -> str:
    return module_path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def pure_contracts() -> list[dict[str, Any]]:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    contracts: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return [c for c in contracts if str(c["id"]).startswith("pure")]


def checked_as_pure(module: str) -> bool:
    for contract in pure_contracts():
        as_packages = contract.get("as_packages", True)
        for source in contract["source_modules"]:
            if module == source or (as_packages and module.startswith(f"{source}.")):
                return True
    return False


def test_every_module_is_on_the_map_and_every_map_line_is_a_module() -> None:
    entries = map_entries()
    listed = [e.path for e in entries]
    modules = tree_modules()
    missing = [m for m in modules if m not in listed]
    gone = [e for e in entries if e.path not in modules]
    twice = sorted({p for p in listed if listed.count(p) > 1})
    problems = [
        f"add to docs/architecture.md, {SECTION}, under ### `{package_heading(m)}`:\n"
        f"    - `{m}` (pure|I/O: <what it touches>): <its job in one line>"
        for m in missing
    ]
    problems += [
        f"remove docs/architecture.md line {e.line}: `{e.path}` does not exist any more "
        "(or fix its path)"
        for e in gone
    ]
    problems += [f"docs/architecture.md lists `{p}` more than once" for p in twice]
    assert not problems, "\n".join(problems)


def test_each_map_line_sits_under_its_package() -> None:
    misplaced = [
        f"docs/architecture.md line {e.line}: move `{e.path}` under "
        f"### `{package_heading(e.path)}` (it is under {e.heading or 'no heading'})"
        for e in map_entries()
        if e.heading != package_heading(e.path)
    ]
    assert not misplaced, "\n".join(misplaced)


def test_modules_called_pure_are_exactly_those_the_contracts_check() -> None:
    entries = [e for e in map_entries() if (PACKAGE.parent / e.path).exists()]
    unchecked = [e for e in entries if e.pure and not checked_as_pure(dotted(e.path))]
    not_called_pure = [e for e in entries if not e.pure and checked_as_pure(dotted(e.path))]
    problems = [
        f'`{e.path}` is pure on the map: add "{dotted(e.path)}" to source_modules of the '
        "`pure` contract in pyproject.toml (or say what I/O it does on the map)"
        for e in unchecked
    ]
    problems += [
        f"`{e.path}` is checked as pure by pyproject.toml: mark it (pure) on the map, "
        "docs/architecture.md line "
        f"{e.line} (or take it out of the `pure` contract if it does I/O)"
        for e in not_called_pure
    ]
    assert not problems, "\n".join(problems)


def test_the_pure_contracts_forbid_the_same_libraries() -> None:
    lists = {str(c["id"]): sorted(c["forbidden_modules"]) for c in pure_contracts()}
    first = next(iter(lists.values()))
    differing = [name for name, forbidden in lists.items() if forbidden != first]
    assert not differing, f"pyproject.toml: give {differing} the same forbidden_modules as the rest"


def test_contracts_name_coming_packages_once_they_exist() -> None:
    text = PYPROJECT.read_text(encoding="utf-8")
    problems = [
        f'{package}/ exists now: in pyproject.toml replace "{package}.**" by "{package}" '
        "(import-linter refuses a missing module, so the plain name had to wait)"
        for package in COMING_PACKAGES
        if (ROOT / package.replace(".", "/")).is_dir() and f'"{package}"' not in text
    ]
    assert not problems, "\n".join(problems)


def test_the_map_reader_understands_the_map() -> None:
    # The checks above are only as good as the parser: the map must yield the modules we know.
    pure = {e.path for e in map_entries() if e.pure}
    assert {"vopi_obvo/rules.py", "vopi_obvo/source/holes.py"} <= pure
    assert "vopi_obvo/daemon.py" not in pure
    assert len(tree_modules()) > 50


# A web address in a comment or docstring sends the reader outside the repository; the only
# hosts allowed are the reserved examples (example.si, *.invalid, localhost).
_ADDRESS = re.compile(r"\bhttps?://(?P<host>[\w.-]+)")
_ALLOWED_HOSTS = re.compile(r"(^|\.)(example\.\w+|invalid|localhost|127\.0\.0\.1)$")
_OUTSIDE_PATH = re.compile(r"(?<![\w.])\.\./[\w./-]+")


def _comments_and_docstrings(path: Path) -> list[tuple[int, str]]:
    source = path.read_text(encoding="utf-8")
    found = [
        (token.start[0], token.string)
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    ]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc and node.body:
                found.append((node.body[0].lineno, doc))
    return found


def test_no_comment_or_docstring_points_outside_the_repository() -> None:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for line, text in _comments_and_docstrings(path):
            hosts = [m["host"] for m in _ADDRESS.finditer(text)]
            outside = [h for h in hosts if not _ALLOWED_HOSTS.search(h)]
            outside += _OUTSIDE_PATH.findall(text)
            problems += [f"{path.relative_to(ROOT)}:{line}: points to {o}" for o in outside]
    assert not problems, (
        "say it here or in docs/ instead (protocol and standard names are fine):\n"
        + "\n".join(problems)
    )
