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


def party(value: str, field: str) -> str:
    text = value.strip()
    if not text:
        raise InvalidInput(f"{field} must not be empty")
    if len(text) > _MAX_TEXT or any(ch.isspace() or not ch.isprintable() for ch in text):
        raise InvalidInput(f"{field}: {value!r} is not a VOPI party id (no spaces, ≤ 200)")
    return text


def email(value: str, field: str) -> str:
    try:
        return normalise_email(value)
    except InvalidInput as exc:
        raise InvalidInput(f"{field}: {exc}") from None


def phone(value: str, field: str) -> str:
    try:
        return normalise_phone(value)
    except InvalidInput as exc:
        raise InvalidInput(f"{field}: {exc}") from None


def events(value: str, field: str) -> str:
    text = value.strip().lower()
    try:
        return EventsLevel(text).value
    except ValueError:
        raise InvalidInput(f"{field} must be all or key, not {value!r}") from None


def language(value: str, field: str) -> str:
    text = value.strip().lower()
    if not _LANGUAGE.fullmatch(text):
        raise InvalidInput(f"{field} must be a two-letter code such as sl or it, not {value!r}")
    return text


def origin(value: str, field: str) -> str:
    text = value.strip().lower()
    try:
        return Origin(text).value
    except ValueError:
        raise InvalidInput(f"{field} must be one of {ORIGINS}, not {value!r}") from None


def reference(value: str, field: str) -> str:
    text = value.strip()
    if not text:
        raise InvalidInput(f"{field} must not be empty")
    if len(text) > _MAX_TEXT or any(not ch.isprintable() for ch in text):
        raise InvalidInput(f"{field} must be printable text of at most {_MAX_TEXT} characters")
    return text


def cases(values: Iterable[str], field: str) -> tuple[str, ...]:
    """Distinct case ids in the order given."""
    result: list[str] = []
    for value in values:
        text = value.strip()
        if not text or len(text) > _MAX_TEXT or any(ch.isspace() for ch in text):
            raise InvalidInput(f"{field}: {value!r} is not a case id (as events_query's case_id)")
        if text not in result:
            result.append(text)
    return tuple(result)


def consent(value: str, field: str, now: dt.datetime | None = None) -> dt.datetime:
    return parse_past_time(value, field, now)


def check_complete(data: SubscriberData, where: str = "") -> None:
    """Rules across fields: a channel, and a reference for a written application."""
    prefix = f"{where}: " if where else ""
    if data.email is None and data.phone is None:
        raise InvalidInput(
            f"{prefix}a subscriber needs at least one channel: e-mail and/or phone"
            + ("" if where else " (--email, --phone)")
        )
    if data.origin == Origin.WRITTEN and not data.reference:
        raise InvalidInput(
            f"{prefix}a written application needs its document reference"
            + ("" if where else " (--reference)")
        )


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
    message: str


def decode_csv(raw: bytes, name: str) -> str:
    """UTF-8 (with or without the BOM spreadsheets write); a bad byte names its line."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InvalidInput(
            f"{name}: line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file "
            "as CSV UTF-8"
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
        raise InvalidInput(f"{name}: line 1: the header row is missing ({', '.join(COLUMNS[:5])})")
    delimiter = _delimiter(lines[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except csv.Error as exc:
        raise InvalidInput(f"{name}: line 1: {exc}") from None
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
            problems.append(CsvProblem(start, f"not valid CSV: {exc}"))
            break
        last_line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            problems.append(
                CsvProblem(start, f"{len(cells)} cell(s), but the header has {len(header)}")
            )
            continue
        values = {c: cell for c, cell in zip(columns, cells, strict=True) if c is not None}
        try:
            data = _row_data(values, start, default_origin, moment)
        except InvalidInput as exc:
            problems.append(CsvProblem(start, str(exc)))
            continue
        earlier = first_line_of.get(data.party_id)
        if earlier is not None:
            problems.append(CsvProblem(start, f"party {data.party_id} is also on line {earlier}"))
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
    problems: list[str] = []
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        problems.append(
            f"unknown column(s) {', '.join(repr(u) for u in unknown)} (known: {', '.join(COLUMNS)})"
        )
    duplicated = sorted({h for h in header if header.count(h) > 1 and h})
    if duplicated:
        problems.append(f"column(s) {', '.join(duplicated)} more than once")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        problems.append(f"the column {missing[0]} is missing")
    if not any(c in header for c in CHANNEL_COLUMNS):
        problems.append("a column email or phone (or both) is needed")
    if problems:
        raise InvalidInput(f"{name}: line 1 (header): " + "; ".join(problems))
    return [h if h in COLUMNS else None for h in header]


def _row_data(
    values: dict[str, str], line: int, default_origin: str, now: dt.datetime
) -> SubscriberData:
    def cell(column: str) -> str:
        return values.get(column, "").strip()

    def where(column: str) -> str:
        return f"column {column}"

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
    check_complete(data, where=f"party {party_id}")
    return data
