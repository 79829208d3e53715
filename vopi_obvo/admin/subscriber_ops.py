"""What a clerk does to a subscription — register, change, end, erase, import — validated,
checked in VOPI and audited. Shared by `obvo subscribers …` and the console; each caller only
gathers the input (arguments, a form, an upload) and presents the result, and passes the
names of its own fields so that every error points at what to fix there."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from vopi_obvo.admin import audit, subscriber_store
from vopi_obvo.admin import subscriber_input as inp
from vopi_obvo.admin.common import vopi_source
from vopi_obvo.admin.subscriber_input import SubscriberData
from vopi_obvo.admin.subscriber_store import Erasure
from vopi_obvo.config import Settings
from vopi_obvo.errors import InvalidInput, ObvoError, SourceUnavailable
from vopi_obvo.problems import Label, Param, Problem, at
from vopi_obvo.subscribers import SubscriberRecord


def check_cases_in_vopi(
    settings: Settings, wanted: dict[str, tuple[str, ...]]
) -> dict[str, Problem]:
    """party → problem, for parties that are not parties of a case they want to follow."""
    all_cases = sorted({c for cs in wanted.values() for c in cs})
    if not all_cases:
        return {}
    source = vopi_source(settings)
    try:
        parties = source.parties(all_cases)
    except SourceUnavailable as exc:
        raise ObvoError(Problem("vopi.cases_unchecked", {"error": exc.error})) from exc
    finally:
        source.engine.dispose()
    problems: dict[str, Problem] = {}
    for party, cases in wanted.items():
        wrong = tuple(c for c in cases if party not in parties.get(c, set()))
        if wrong:
            problems[party] = Problem("subscriber.not_party", {"party": party, "cases": wrong})
    return problems


def audit_detail(data: SubscriberData, **extra: Any) -> dict[str, Any]:
    """What the audit keeps of a subscription: never the addresses themselves."""
    return {
        "party": data.party_id,
        "channels": [c for c, v in (("email", data.email), ("sms", data.phone)) if v],
        "events": data.events,
        "language": data.language,
        "origin": data.origin,
        "reference": data.reference,
        "cases": list(data.cases),
        **extra,
    }


def cli_change_hint(party: str) -> Problem:
    return Problem("hint.change_cli", {"party": party})


CLI_RETRY_HINT = Problem("hint.retry_cli")
CLI_IMPORT_CHANGE_HINT = Problem("hint.import_change_cli")


@dataclass(frozen=True)
class Fields:
    """How the caller names its inputs in error messages, and how to change a subscription."""

    party: Label = "--party"
    cases: Label = "--case"
    change_hint: Callable[[str], Problem] = cli_change_hint  # party → how to change it
    retry_hint: Problem = CLI_RETRY_HINT
    hints: inp.Hints = inp.CLI_HINTS  # what fixes a problem across fields


def register(
    settings: Settings, engine: sa.Engine, data: SubscriberData, actor: str, fields: Fields
) -> int:
    """A new subscription (validated as a whole, its cases checked in VOPI); its id."""
    inp.check_complete(data, hints=fields.hints)
    problem = check_cases_in_vopi(settings, {data.party_id: data.cases}).get(data.party_id)
    if problem:
        raise InvalidInput(at(fields.cases, problem))
    with engine.begin() as conn:
        new_id = subscriber_store.insert(conn, data)
        if new_id is None:
            [existing] = subscriber_store.find(conn, party_id=data.party_id)
            hint = fields.change_hint(data.party_id)
            already = Problem(
                "subscriber.already", {"party": data.party_id, "id": existing.id, "hint": hint}
            )
            raise InvalidInput(at(fields.party, already))
        audit.record(conn, actor, "subscriber.add", f"subscriber:{new_id}", audit_detail(data))
    return new_id


def apply_changes(current: SubscriberRecord, changes: Mapping[str, Any]) -> SubscriberData:
    base = SubscriberData(
        party_id=current.party_id,
        email=current.email,
        phone=current.phone,
        events=current.events,
        language=current.language,
        origin=current.origin,
        reference=current.reference,
        consent_at=current.consent_at,
        cases=current.cases,
    )
    return SubscriberData(**{**base.__dict__, **changes})


def changed_fields(current: SubscriberRecord, data: SubscriberData) -> list[str]:
    names = ("email", "phone", "events", "language", "origin", "reference", "consent_at")
    changed = [f for f in names if getattr(current, f) != getattr(data, f)]
    if sorted(current.cases) != sorted(data.cases):
        changed.append("cases")
    return changed


def update(
    settings: Settings,
    engine: sa.Engine,
    current: SubscriberRecord,
    changes: Mapping[str, Any],
    *,
    actor: str,
    fields: Fields,
) -> list[str]:
    """Change a subscription as read in `current`; the names of the fields that changed
    (none: nothing written). Refused when someone changed it meanwhile."""
    data = apply_changes(current, changes)
    inp.check_complete(data, hints=fields.hints)
    if "cases" in changes:
        problem = check_cases_in_vopi(settings, {data.party_id: data.cases}).get(data.party_id)
        if problem:
            raise InvalidInput(at(fields.cases, problem))
    changed = changed_fields(current, data)
    if not changed:
        return []
    with engine.begin() as conn:
        locked = subscriber_store.find(conn, subscriber_id=current.id)
        if not locked or locked[0] != current:
            meanwhile: dict[str, Param] = {"id": current.id, "hint": fields.retry_hint}
            raise InvalidInput(Problem("subscriber.changed_meanwhile", meanwhile))
        subscriber_store.update(conn, current.id, data)
        audit.record(
            conn,
            actor,
            "subscriber.update",
            f"subscriber:{current.id}",
            {"party": current.party_id, "changed": changed},
        )
    return changed


def end(conn: sa.Connection, record: SubscriberRecord, actor: str) -> int:
    """End a subscription; how many notifications still due were cancelled. Audited."""
    cancelled = subscriber_store.remove(conn, record.id, "cancelled: the subscription was removed")
    audit.record(
        conn,
        actor,
        "subscriber.remove",
        f"subscriber:{record.id}",
        {"party": record.party_id, "cancelled_notifications": cancelled},
    )
    return cancelled


def erase(engine: sa.Engine, record: SubscriberRecord, actor: str) -> Erasure:
    """Erase a subscriber on request (irreversible; the caller has had it confirmed)."""
    with engine.begin() as conn:
        again = subscriber_store.find(conn, subscriber_id=record.id)
        if not again:
            raise InvalidInput(Problem("subscriber.removed_meanwhile", {"id": record.id}))
        erasure = subscriber_store.forget(conn, again[0])
        audit.record(
            conn,
            actor,
            "subscriber.forget",
            f"subscriber:{record.id}",
            {
                "party": record.party_id,
                "notifications_erased": erasure.erased,
                "notifications_cancelled": erasure.cancelled,
                "portal_identities_removed": erasure.portal_identities,
            },
        )
    return erasure


@dataclass
class ImportReport:
    valid: list[inp.CsvRow] = field(default_factory=list)
    imported: list[tuple[int, int]] = field(default_factory=list)  # (line, subscriber id)
    problems: list[inp.CsvProblem] = field(default_factory=list)


def import_csv(
    settings: Settings,
    engine: sa.Engine,
    text: str,
    name: str,
    actor: str,
    *,
    default_origin: str,
    dry_run: bool,
    file_name: str,
    change_hint: Problem = CLI_IMPORT_CHANGE_HINT,
) -> ImportReport:
    """Every row validated (and its cases checked in VOPI); the valid ones registered unless
    `dry_run`; each invalid one reported with its line."""
    rows, problems = inp.parse_csv(text, name, default_origin=default_origin)
    report = ImportReport(problems=problems)
    with engine.connect() as conn:
        existing = {
            r.data.party_id: found[0].id
            for r in rows
            if (found := subscriber_store.find(conn, party_id=r.data.party_id))
        }
    case_problems = check_cases_in_vopi(
        settings, {r.data.party_id: r.data.cases for r in rows if r.data.cases}
    )
    for row in rows:
        party = row.data.party_id
        if party in existing:
            already: dict[str, Param] = {"party": party, "id": existing[party], "hint": change_hint}
            report.problems.append(inp.CsvProblem(row.line, Problem("subscriber.already", already)))
        elif party in case_problems:
            cases_column = Problem("csv.column", {"column": "cases"})
            report.problems.append(inp.CsvProblem(row.line, at(cases_column, case_problems[party])))
        else:
            report.valid.append(row)
    if not dry_run and report.valid:
        with engine.begin() as conn:
            for row in report.valid:
                new_id = subscriber_store.insert(conn, row.data)
                if new_id is None:  # subscribed meanwhile by someone else
                    meanwhile = Problem("import.meanwhile", {"party": row.data.party_id})
                    report.problems.append(inp.CsvProblem(row.line, meanwhile))
                    continue
                report.imported.append((row.line, new_id))
                audit.record(
                    conn,
                    actor,
                    "subscriber.add",
                    f"subscriber:{new_id}",
                    audit_detail(row.data, via="import", file=file_name, line=row.line),
                )
    report.problems.sort(key=lambda p: p.line)
    return report
