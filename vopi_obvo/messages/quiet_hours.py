"""Quiet hours for SMS: when a message may be sent, in Europe/Ljubljana wall-clock time.

A window such as "21:00-07:00" is quiet while the local clock reads at or after its start and
before its end (it may cross midnight). Whether an instant is quiet depends only on the wall
clock at that instant, so both occurrences of a repeated autumn hour are treated alike and the
hour skipped in spring is simply never quiet. The care needed is for the end of a window:
on the spring change its wall time may not exist (02:30 on the last Sunday of March), and then
the window ends when the clock jumps over it; on the autumn change the clock may fall back
to a time outside the window (03:00 → 02:00 for a window from 02:01), and then it ends there.

Pure logic: no I/O, standard library only.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

__all__ = ["LJUBLJANA", "QuietHours", "QuietWindow", "parse_window"]

LJUBLJANA = ZoneInfo("Europe/Ljubljana")

_WINDOW_RE = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")
_NONE = ("", "none")
_SAME = "same"


@dataclass(frozen=True)
class QuietWindow:
    """A daily window of local wall-clock time, [start, end), crossing midnight if end < start."""

    start: dt.time
    end: dt.time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    @property
    def crosses_midnight(self) -> bool:
        return self.end < self.start

    def contains_wall_time(self, wall: dt.time) -> bool:
        if self.crosses_midnight:
            return wall >= self.start or wall < self.end
        return self.start <= wall < self.end

    def is_quiet(self, instant: dt.datetime, tz: dt.tzinfo = LJUBLJANA) -> bool:
        """Whether `instant` (timezone-aware) falls in the window on the local clock."""
        return self.contains_wall_time(_wall_time(instant, tz))

    def next_allowed(self, now: dt.datetime, tz: dt.tzinfo = LJUBLJANA) -> dt.datetime:
        """The earliest instant at or after `now` that is not quiet (`now` itself if it isn't).

        `now` must be timezone-aware; the result is in UTC (or `now` unchanged).
        """
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("next_allowed needs a timezone-aware time")
        allowed = now
        # Twice at most: when the end falls in the skipped spring hour and the clock jumps
        # straight to a time at or after the start (e.g. "03:00-02:59"), it is tomorrow's end.
        for _ in range(3):
            if not self.is_quiet(allowed, tz):
                return allowed
            allowed = self._end_after(allowed, tz)
        raise AssertionError(f"no time outside {self} after {now}")  # pragma: no cover

    def _end_after(self, quiet: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
        """Where the window that `quiet` (a quiet instant) is in ends."""
        local = quiet.astimezone(tz)
        end_date = local.date()
        if self.crosses_midnight and local.time().replace(tzinfo=None) >= self.start:
            end_date += dt.timedelta(days=1)
        end = _first_instant_at_or_after(end_date, self.end, tz, quiet)
        # A clock change before that end reads the wall clock afresh: falling back from 03:00
        # to 02:00 may leave a window that starts at 02:01, or reach again the end of one
        # that ends at 02:01 the same night; from the change on, the window is judged anew.
        change = _offset_change_between(quiet, end, tz)
        if change is None:
            return end
        return change if not self.is_quiet(change, tz) else self._end_after(change, tz)


def _wall_time(instant: dt.datetime, tz: dt.tzinfo) -> dt.time:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("quiet hours need a timezone-aware time")
    return instant.astimezone(tz).time().replace(tzinfo=None)


def _first_instant_at_or_after(
    day: dt.date, wall: dt.time, tz: dt.tzinfo, not_before: dt.datetime
) -> dt.datetime:
    """The first instant, not before `not_before`, at which the local clock on `day` reads
    `wall` (or, if the clock skips `wall` that day, the instant it jumps over it)."""
    naive = dt.datetime.combine(day, wall)
    candidates = sorted(naive.replace(tzinfo=tz, fold=fold).astimezone(dt.UTC) for fold in (0, 1))
    real = [c for c in candidates if c.astimezone(tz).replace(tzinfo=None) == naive]
    if real:
        # Two real occurrences on the autumn change: the first one not already behind us.
        later = [c for c in real if c >= not_before]
        return later[0] if later else real[-1]
    # `wall` lies in the spring gap: both readings are off by the gap; the clock jumped over
    # `wall` at the transition between them. Found to the second by bisection.
    before, after = candidates
    return _first_instant_with_offset_of(after, before, tz)


def _offset_change_between(
    start: dt.datetime, end: dt.datetime, tz: dt.tzinfo
) -> dt.datetime | None:
    """The instant in (start, end] at which the local UTC offset changes, if it does.

    A window is shorter than a day, and Europe/Ljubljana changes its offset at most once in
    a day, so one change at most is looked for.
    """
    if start.astimezone(tz).utcoffset() == end.astimezone(tz).utcoffset():
        return None
    return _first_instant_with_offset_of(end, start, tz)


def _first_instant_with_offset_of(
    after: dt.datetime, before: dt.datetime, tz: dt.tzinfo
) -> dt.datetime:
    """The first instant (to the second) after `before` whose offset is `after`'s, found by
    bisection: `before` has the old offset, `after` the new one."""
    offset_after = after.astimezone(tz).utcoffset()
    while after - before > dt.timedelta(seconds=1):
        middle = before + (after - before) / 2
        if middle.astimezone(tz).utcoffset() == offset_after:
            after = middle
        else:
            before = middle
    return after.replace(microsecond=0) if after.microsecond else after


def parse_window(text: str) -> QuietWindow | None:
    """ "21:00-07:00" → a window; "" or "none" → None. Raises ValueError saying what is wrong."""
    value = text.strip().lower()
    if value in _NONE:
        return None
    match = _WINDOW_RE.fullmatch(value)
    if match is None:
        raise ValueError(f'must be HH:MM-HH:MM (e.g. "21:00-07:00") or empty, not {text!r}')
    sh, sm, eh, em = (int(g) for g in match.groups())
    for hour, minute in ((sh, sm), (eh, em)):
        if hour > 23 or minute > 59:
            raise ValueError(f"{hour:02d}:{minute:02d} is not a time of day (00:00-23:59)")
    start, end = dt.time(sh, sm), dt.time(eh, em)
    if start == end:
        raise ValueError(f"start and end are the same ({text.strip()}): the window is empty")
    return QuietWindow(start, end)


@dataclass(frozen=True)
class QuietHours:
    """The SMS policy: one window for ordinary events, one (or none) for key events."""

    ordinary: QuietWindow | None = None
    key: QuietWindow | None = None

    @classmethod
    def parse(cls, quiet_hours: str, quiet_hours_key: str = _SAME) -> QuietHours:
        """From `[sms] quiet_hours` and `[sms] quiet_hours_key` ("same", "none" or a window)."""
        ordinary = parse_window(quiet_hours)
        key_value = quiet_hours_key.strip().lower()
        key = ordinary if key_value == _SAME else parse_window(quiet_hours_key)
        return cls(ordinary, key)

    @property
    def enabled(self) -> bool:
        return self.ordinary is not None or self.key is not None

    def window_for(self, key_event: bool) -> QuietWindow | None:
        return self.key if key_event else self.ordinary

    def sms_allowed_at(self, now: dt.datetime, *, key_event: bool) -> dt.datetime:
        """When an SMS due at `now` may go out: `now`, or the end of the quiet hours."""
        window = self.window_for(key_event)
        return now if window is None else window.next_allowed(now)
