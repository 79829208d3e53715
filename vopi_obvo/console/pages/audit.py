"""The audit trail (read only): filters by source, outcome, actor, action (or a family such as
`subscriber`), target and time (since, until), as `obvo audit` takes them, and the same
selection as CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from vopi_obvo.admin import audit
from vopi_obvo.admin.timespec import parse_range, show_time
from vopi_obvo.console.context import Console
from vopi_obvo.console.roles import Role
from vopi_obvo.console.texts import Translator
from vopi_obvo.console.views import PageError, Views, errors_of
from vopi_obvo.errors import InvalidInput
from vopi_obvo.problems import Problem

PAGE_LIMIT = 200
CSV_LIMIT = 100_000
FIELDS = ("source", "outcome", "actor", "action", "target", "since", "until")
OUTCOMES = ("ok", "refused")  # as `obvo audit --outcome`: allowed, or refused (sign-ins, …)
SINCE = Problem("field.since")  # the time filters as problems name them: the form's labels
UNTIL = Problem("field.until")


def selection(
    request: Request, t: Translator
) -> tuple[dict[str, str], dict[str, object], list[PageError]]:
    """The form's values, the reader's filters, and the problems (nothing is read then)."""
    given = {k: request.query_params.get(k, "").strip() for k in FIELDS}
    filters: dict[str, object] = {
        "actor": given["actor"] or None,
        "action": given["action"] or None,
        "target": given["target"] or None,
    }
    errors: list[PageError] = []
    if given["source"]:
        if given["source"] in audit.SOURCES:
            filters["source"] = given["source"]
        else:
            sources = ", ".join(audit.SOURCES)
            errors.append(t("filter_source_invalid", value=given["source"], sources=sources))
    if given["outcome"]:
        if given["outcome"] in OUTCOMES:
            filters["outcome"] = given["outcome"]
        else:
            outcomes = ", ".join(OUTCOMES)
            errors.append(t("filter_outcome_invalid", value=given["outcome"], outcomes=outcomes))
    try:
        filters["since"], filters["until"] = parse_range(
            given["since"] or None, given["until"] or None, (SINCE, UNTIL)
        )
    except InvalidInput as exc:
        errors.extend(errors_of(exc))
    return given, filters, errors


def as_csv(found: Sequence[audit.AuditEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["source", "id", "time", "actor", "action", "outcome", "target", "detail"])
    for e in found:
        detail = json.dumps(dict(e.detail), ensure_ascii=False, sort_keys=True)
        writer.writerow(
            [
                e.source,
                e.id,
                show_time(e.at),
                e.actor,
                e.action,
                e.outcome or "",
                e.target or "",
                detail,
            ]
        )
    return out.getvalue()


def make_router(console: Console, views: Views) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def read(filters: dict[str, object], limit: int) -> list[audit.AuditEntry]:
        with console.engine.connect() as conn:
            return audit.entries(conn, limit=limit, **filters)  # type: ignore[arg-type]

    @router.get("/revizija")
    def audit_page(request: Request) -> Response:
        signed = console.signed(request, Role.VIEWER)
        given, filters, errors = selection(request, views.translator(request))
        found = [] if errors else read(filters, PAGE_LIMIT)
        return views.render(
            request,
            "audit.html",
            "audit_title",
            signed=signed,
            active="/revizija",
            given=given,
            entries=found,
            errors=errors,
            limit=PAGE_LIMIT,
            sources=audit.SOURCES,
            outcomes=OUTCOMES,
            query=request.url.query,
            dumps=lambda d: json.dumps(dict(d), ensure_ascii=False, sort_keys=True),
            status=400 if errors else 200,
        )

    @router.get("/revizija.csv")
    def audit_csv(request: Request) -> Response:
        console.signed(request, Role.VIEWER)
        _, filters, errors = selection(request, views.translator(request))
        if errors:
            raise HTTPException(400, views.worded(request, errors[0]))
        return Response(
            as_csv(read(filters, CSV_LIMIT)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="obvo-audit.csv"'},
        )

    return router
