"""What a clerk types or imports about a subscriber, validated: pure logic.

Every error names where the bad value came from (`--email`, `line 4, column phone`), so the
clerk can fix exactly that; nothing is written until everything given is valid.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from vopi_obvo.admin.timespec import parse_past_time
from vopi_obvo.errors import InvalidInput
from vopi_obvo.messages.contacts import normalise_email, normalise_phone
from vopi_obvo.problems import Label, Problem, at
from vopi_obvo.rules import DEFAULT_LANGUAGE, EventsLevel

_LANGUAGE = re.compile(r"[a-z]{2}")
_MAX_TEXT = 200


@dataclass(frozen=True)
class SubscriberData:
    """What a subscription is to become (validated already)."""

    party_id: str
    email: str | None
    phone: str | None
    events: str
    language: str
    origin: str | None
    reference: str | None
    consent_at: dt.datetime | None
    cases: tuple[str, ...]

    def params(self) -> dict[str, Any]:
        return {
            "party_id": self.party_id,
            "email": self.email,
            "phone": self.phone,
            "events": self.events,
            "language": self.language,
            "origin": self.origin,
            "reference": self.reference,
            "consent_at": self.consent_at,
        }


class Origin(enum.StrEnum):
    IN_PERSON = "in_person"  # at the counter
    WRITTEN = "written"  # a signed paper application (has a document reference)
    E_VLOGA = "e_vloga"  # the municipal portal


ORIGINS = ", ".join(o.value for o in Origin)


def party(value: str, field: Label) -> str:
    text = value.strip()
    if not text:
        raise InvalidInput(Problem("input.empty", {"field": field}))
    if len(text) > _MAX_TEXT or any(ch.isspace() or not ch.isprintable() for ch in text):
        raise InvalidInput(Problem("input.party_id", {"field": field, "value": value}))
    return text


def email(value: str, field: Label) -> str:
    try:
        return normalise_email(value)
    except InvalidInput as exc:
        raise InvalidInput(at(field, exc.problems[0])) from None


def phone(value: str, field: Label) -> str:
    try:
        return normalise_phone(value)
    except InvalidInput as exc:
        raise InvalidInput(at(field, exc.problems[0])) from None


def events(value: str, field: Label) -> str:
    text = value.strip().lower()
    try:
        return EventsLevel(text).value
    except ValueError:
        raise InvalidInput(Problem("input.events", {"field": field, "value": value})) from None


def language(value: str, field: Label) -> str:
    text = value.strip().lower()
    if not _LANGUAGE.fullmatch(text):
        raise InvalidInput(Problem("input.language", {"field": field, "value": value}))
    return text


def origin(value: str, field: Label) -> str:
    text = value.strip().lower()
    try:
        return Origin(text).value
    except ValueError:
        raise InvalidInput(
            Problem("input.origin", {"field": field, "value": value, "origins": ORIGINS})
        ) from None


def reference(value: str, field: Label) -> str:
    text = value.strip()
    if not text:
        raise InvalidInput(Problem("input.empty", {"field": field}))
    if len(text) > _MAX_TEXT or any(not ch.isprintable() for ch in text):
        raise InvalidInput(Problem("input.text", {"field": field, "max": _MAX_TEXT}))
    return text


def cases(values: Iterable[str], field: Label) -> tuple[str, ...]:
    """Distinct case ids in the order given."""
    result: list[str] = []
    for value in values:
        text = value.strip()
        if not text or len(text) > _MAX_TEXT or any(ch.isspace() for ch in text):
            raise InvalidInput(Problem("input.case_id", {"field": field, "value": value}))
        if text not in result:
            result.append(text)
    return tuple(result)


def consent(value: str, field: Label, now: dt.datetime | None = None) -> dt.datetime:
    return parse_past_time(value, field, now)


@dataclass(frozen=True)
class Hints:
    """The caller's inputs that fix a problem across fields (the CLI's options; none on a
    form, whose fields are in sight), shown after the problem in parentheses."""

    channels: str | None = "--email, --phone"
    reference: str | None = "--reference"


NO_HINTS = Hints(channels=None, reference=None)
CLI_HINTS = Hints()


def check_complete(data: SubscriberData, where: Label = "", hints: Hints = NO_HINTS) -> None:
    """Rules across fields: a channel, and a reference for a written application."""
    found: Problem | None = None
    hint: str | None = None
    if data.email is None and data.phone is None:
        found, hint = Problem("subscriber.no_channel"), hints.channels
    elif data.origin == Origin.WRITTEN and not data.reference:
        found, hint = Problem("subscriber.no_reference"), hints.reference
    if found is None:
        return
    if hint:
        found = Problem("hinted", {"problem": found, "hint": hint})
    raise InvalidInput(at(where, found) if where else found)


# ---- CSV import ----

REQUIRED_COLUMNS = ("party",)
CHANNEL_COLUMNS = ("email", "phone")
COLUMNS = (
    "party",
    "email",
    "phone",
    "events",
    "language",
    "origin",
    "reference",
    "consent_at",
    "cases",
)
_CASE_SPLIT = re.compile(r"[;,\s]+")


def split_cases(text: str) -> list[str]:
    """Case ids typed or imported in one cell: separated by ;, commas or spaces."""
    return [c for c in _CASE_SPLIT.split(text.strip()) if c]


@dataclass(frozen=True)
class CsvRow:
    line: int
    data: SubscriberData


@dataclass(frozen=True)
class CsvProblem:
    line: int
    problem: Problem

    @property
    def message(self) -> str:
        """In English, as `subscribers import` prints it."""
        return str(self.problem)


def decode_csv(raw: bytes, name: str) -> str:
    """UTF-8 (with or without the BOM spreadsheets write); a bad byte names its line."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        byte = f"0x{raw[exc.start]:02x}"
        raise InvalidInput(
            Problem("csv.not_utf8", {"name": name, "line": line, "byte": byte})
        ) from None


def parse_csv(
    text: str,
    name: str,
    *,
    default_origin: str = Origin.IN_PERSON.value,
    now: dt.datetime | None = None,
) -> tuple[list[CsvRow], list[CsvProblem]]:
    """Rows that are valid on their own, and a problem per invalid row (line numbers as a
    spreadsheet shows them). A header that cannot be used is an error for the whole file."""
    text = text.removeprefix("\ufeff")
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        expected = ", ".join(COLUMNS[:5])
        raise InvalidInput(Problem("csv.no_header", {"name": name, "columns": expected}))
    delimiter = _delimiter(lines[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except csv.Error as exc:
        unreadable = {"name": name, "detail": str(exc)}
        raise InvalidInput(Problem("csv.header_syntax", unreadable)) from None
    columns = _check_header(header, name)
    moment = now or dt.datetime.now(dt.UTC)
    rows: list[CsvRow] = []
    problems: list[CsvProblem] = []
    first_line_of: dict[str, int] = {}
    last_line = reader.line_num
    while True:
        start = last_line + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(CsvProblem(start, Problem("csv.syntax", {"detail": str(exc)})))
            break
        last_line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            counts = {"cells": len(cells), "header": len(header)}
            problems.append(CsvProblem(start, Problem("csv.cell_count", counts)))
            continue
        values = {c: cell for c, cell in zip(columns, cells, strict=True) if c is not None}
        try:
            data = _row_data(values, start, default_origin, moment)
        except InvalidInput as exc:
            problems.extend(CsvProblem(start, p) for p in exc.problems)
            continue
        earlier = first_line_of.get(data.party_id)
        if earlier is not None:
            twice = Problem("csv.party_twice", {"party": data.party_id, "line": earlier})
            problems.append(CsvProblem(start, twice))
            continue
        first_line_of[data.party_id] = start
        rows.append(CsvRow(start, data))
    return rows, problems


def _delimiter(header_line: str) -> str:
    """Comma by default; a spreadsheet set to Slovenian writes semicolons."""
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _check_header(header: Sequence[str], name: str) -> list[str | None]:
    problems: list[Problem] = []
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        given = ", ".join(repr(u) for u in unknown)
        problems.append(Problem("csv.unknown_columns", {"columns": given, "known": COLUMNS}))
    duplicated = sorted({h for h in header if header.count(h) > 1 and h})
    if duplicated:
        problems.append(Problem("csv.columns_twice", {"columns": tuple(duplicated)}))
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        problems.append(Problem("csv.column_missing", {"column": missing[0]}))
    if not any(c in header for c in CHANNEL_COLUMNS):
        problems.append(Problem("csv.no_channel_column"))
    if problems:
        raise InvalidInput(Problem("csv.header", {"name": name, "problems": tuple(problems)}))
    return [h if h in COLUMNS else None for h in header]


def _row_data(
    values: dict[str, str], line: int, default_origin: str, now: dt.datetime
) -> SubscriberData:
    def cell(column: str) -> str:
        return values.get(column, "").strip()

    def where(column: str) -> Problem:
        return Problem("csv.column", {"column": column})

    party_id = party(cell("party"), where("party"))
    data = SubscriberData(
        party_id=party_id,
        email=email(cell("email"), where("email")) if cell("email") else None,
        phone=phone(cell("phone"), where("phone")) if cell("phone") else None,
        events=events(cell("events"), where("events")) if cell("events") else "all",
        language=(
            language(cell("language"), where("language")) if cell("language") else DEFAULT_LANGUAGE
        ),
        origin=origin(cell("origin"), where("origin")) if cell("origin") else default_origin,
        reference=reference(cell("reference"), where("reference")) if cell("reference") else None,
        consent_at=(
            consent(cell("consent_at"), where("consent_at"), now) if cell("consent_at") else now
        ),
        cases=cases(split_cases(cell("cases")), where("cases")),
    )
    check_complete(data, where=Problem("csv.party", {"party": party_id}))
    return data
