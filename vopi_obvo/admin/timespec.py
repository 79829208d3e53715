"""Times typed by an administrator: `2026-03-01`, `2026-03-01 14:30`, ISO 8601, or `2h` ago."""

from __future__ import annotations

import datetime as dt
import re

from vopi_obvo.errors import InvalidInput
from vopi_obvo.messages.templates import LJUBLJANA
from vopi_obvo.problems import Label, Problem

_RELATIVE = re.compile(r"(\d+)\s*([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, field: Label, now: dt.datetime | None = None) -> dt.datetime:
    """An aware datetime. A time without a zone is Europe/Ljubljana time (what the clerk's
    clock shows); `30m`, `2h`, `7d`, `1w` mean that long before now."""
    value = text.strip()
    current = now or dt.datetime.now(dt.UTC)
    relative = _RELATIVE.fullmatch(value)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        return current - dt.timedelta(**{_UNITS[unit]: amount})
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(Problem("time.invalid", {"field": field, "value": text})) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=LJUBLJANA)
    return parsed


def parse_range(
    since: str | None,
    until: str | None,
    fields: tuple[Label, Label] = ("since", "until"),
    now: dt.datetime | None = None,
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """A `since`..`until` window as `obvo audit`, `notifications list` and the console's
    filters take it: from `since` (included) to before `until` (excluded); None leaves that
    end open. Every problem at once, so a form shows them together."""
    current = now or dt.datetime.now(dt.UTC)
    bounds: list[dt.datetime | None] = []
    problems: list[Problem] = []
    for text, field in zip((since, until), fields, strict=True):
        try:
            bounds.append(None if text is None else parse_time(text, field, current))
        except InvalidInput as exc:
            bounds.append(None)
            problems.extend(exc.problems)
    start, end = bounds
    if start is not None and end is not None and end <= start:
        empty = {"since": fields[0], "until": fields[1]}
        problems.append(Problem("time.range_empty", empty))
    if len(problems) > 1:
        raise InvalidInput(Problem("several", {"problems": tuple(problems)}))
    if problems:
        raise InvalidInput(problems[0])
    return start, end


def parse_past_time(text: str, field: Label, now: dt.datetime | None = None) -> dt.datetime:
    """As parse_time, refusing a time in the future (consent cannot be given tomorrow)."""
    current = now or dt.datetime.now(dt.UTC)
    parsed = parse_time(text, field, current)
    if parsed > current + dt.timedelta(minutes=5):  # a little slack for unsynchronised clocks
        raise InvalidInput(Problem("time.future", {"field": field, "value": text}))
    return parsed


def show_time(value: dt.datetime | None) -> str:
    """For tables: Ljubljana time to the second, no zone clutter."""
    if value is None:
        return ""
    return value.astimezone(LJUBLJANA).strftime("%Y-%m-%d %H:%M:%S")
