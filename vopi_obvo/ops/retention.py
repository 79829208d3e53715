"""Retention (GDPR storage limitation): texts and addresses of old notifications are removed.

A notification created more than `[retention] message_days` ago keeps only what statistics
need: status, channel, event type and kind, language, attempts and the times. Its recipient
address, subject, body and HTML, its links to the subscriber and the VOPI case go, and
addresses or numbers quoted in error texts (its own and its attempts') are cut out.
Notifications still open (pending, sending, held) are left until they end. The daemon runs
this daily; `obvo purge` runs it on demand. Batches are short transactions, so a purge of a
large backlog never holds locks the dispatcher waits on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
import structlog

from vopi_obvo.queries import q

log = structlog.get_logger("vopi_obvo.retention")

BATCH_SIZE = 1000


@dataclass(frozen=True)
class PurgeReport:
    days: int
    cutoff: dt.datetime
    anonymised: int  # done now (0 for a dry run)
    due: int  # finished notifications before the cutoff not anonymised yet (before this run)
    still_open: int  # before the cutoff but pending/sending/held: left alone
    oldest: dt.datetime | None  # the oldest of the `due` ones
    busy: bool = False  # another process was purging: this one stopped

    def describe(self, *, dry_run: bool) -> str:
        when = self.cutoff.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        head = f"notifications created before {when} ({self.days} days, [retention] message_days)"
        lines = [
            f"{head}: {self.due} to anonymise"
            + (f", the oldest from {self.oldest:%Y-%m-%d}" if self.oldest else "")
        ]
        if dry_run:
            lines.append("(dry run: nothing changed)")
        elif self.busy:
            lines.append(
                f"anonymised {self.anonymised}; another obvo process is purging too, it does "
                "the rest"
            )
        else:
            lines.append(f"anonymised {self.anonymised}")
        if self.still_open:
            lines.append(
                f"{self.still_open} still open (pending, sending or held) are left until they end"
            )
        return "\n".join(lines)


def preview(engine: sa.Engine, days: int) -> PurgeReport:
    with engine.connect() as conn:
        cutoff = conn.execute(q("retention_cutoff"), {"days": days}).scalar_one()
        row = conn.execute(q("retention_preview"), {"cutoff": cutoff}).one()
    return PurgeReport(
        days=days,
        cutoff=cutoff,
        anonymised=0,
        due=int(row.due),
        still_open=int(row.still_open),
        oldest=row.oldest,
    )


def purge(engine: sa.Engine, days: int, batch_size: int = BATCH_SIZE) -> PurgeReport:
    """Anonymise every finished notification older than `days`; safe to run from several
    processes at once (one purges, the others return busy) and to interrupt."""
    before = preview(engine, days)
    done = 0
    busy = False
    while True:
        with engine.begin() as conn:
            if not conn.execute(q("retention_try_lock")).scalar_one():
                busy = True
                break
            ids = conn.execute(
                q("retention_purge_batch"), {"cutoff": before.cutoff, "limit": batch_size}
            ).all()
        done += len(ids)
        if len(ids) < batch_size:
            break
    report = PurgeReport(
        days=days,
        cutoff=before.cutoff,
        anonymised=done,
        due=before.due,
        still_open=before.still_open,
        oldest=before.oldest,
        busy=busy,
    )
    log.info(
        "retention.purged",
        anonymised=done,
        older_than_days=days,
        cutoff=before.cutoff.isoformat(),
        still_open=before.still_open,
        busy=busy,
    )
    return report
