"""Validation problems as data: a stable code and its parameters, worded in a language only
when shown. Pure logic.

The validators shared by the administrative CLI and the staff console (subscriber input, the
CSV import, phone and e-mail numbers, times, the rules file) raise problems, not sentences;
the CLI prints them in English (`str()`, also what logs and exceptions carry) and the console
in the page's language, from the one catalogue in problem_texts.py. So both say the same
thing, and a field's name inside a message is translated too: a parameter that is itself a
Problem (a field's label, where in a file) is worded in the same language.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

from vopi_obvo.problem_texts import CATALOGUE, DEFAULT_LANGUAGE, ENGLISH

# A parameter: a value shown as given (a typed address, a line number, a CLI option such as
# `--email`), a catalogued text (a field's label, a nested problem), or several of them.
Param: TypeAlias = "str | int | Problem | tuple[Param, ...]"
# Where a problem is: a text shown as is in every language (the CLI's `--email`, a file name),
# or a catalogued label (the console's field, a CSV column).
Label: TypeAlias = "str | Problem"


@dataclass(frozen=True)
class Problem:
    """One problem (or label): `code` names its text in the catalogue, `params` fill it."""

    code: str
    params: Mapping[str, Param] = field(default_factory=dict)

    def __str__(self) -> str:
        return render(self, ENGLISH)

    def __hash__(self) -> int:  # params is a mapping: hashed by its items, as it compares
        return hash((self.code, tuple(sorted(self.params.items()))))


def render(problem: Problem, language: str) -> str:
    """The problem worded in `language` (Slovenian for a language the catalogue lacks)."""
    texts = CATALOGUE[problem.code]
    template = texts.get(language) or texts[DEFAULT_LANGUAGE]
    values = {name: _value(value, language) for name, value in problem.params.items()}
    return template.format(**values)


def _value(value: Param, language: str) -> str | int:
    if isinstance(value, Problem):
        return render(value, language)
    if isinstance(value, tuple):
        # Problems listed together read as clauses; plain values (keys, columns) as a list.
        separator = "; " if value and all(isinstance(v, Problem) for v in value) else ", "
        return separator.join(str(_value(v, language)) for v in value)
    # Kept as given, so a catalogue text may format it ({value!r}, {count:d}).
    return value


def at(where: Label, problem: Problem) -> Problem:
    """`where: problem` (the field, line or file the problem is in)."""
    return Problem("at", {"where": where, "problem": problem})


def render_all(problems: list[Problem], language: str) -> list[str]:
    return [render(p, language) for p in problems]
