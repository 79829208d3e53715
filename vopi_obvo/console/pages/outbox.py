"""The outbox: notifications filtered (status, channel, event type, case, subscriber, time),
one notification with its attempts, retry and cancel (clerk), and the held notifications
grouped by storm with release and cancel (admin). Every action is the CLI's own function
(admin/outbox.py), so it validates and audits exactly as `obvo notifications …`."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from vopi_obvo.admin import audit, outbox
from vopi_obvo.admin.rules_ops import sms_policy
from vopi_obvo.admin.timespec import parse_range
from vopi_obvo.console.context import Console, Signed
from vopi_obvo.console.notices import Notice
from vopi_obvo.console.roles import Role
from vopi_obvo.console.texts import Translator
from vopi_obvo.console.views import PageError, Views, errors_of
from vopi_obvo.delivery import storm_store
from vopi_obvo.delivery.storm_store import HeldOutcome
from vopi_obvo.errors import InvalidInput, ObvoError
from vopi_obvo.messages.contacts import mask_recipient
from vopi_obvo.problems import Problem
from vopi_obvo.queries import q

FormField = Annotated[str, Form()]
LIMIT = 200
FILTERS = ("status", "channel", "event_type", "case", "subscriber", "since", "until", "before")


# The filters as problems name them: the labels of the filter form.
STATUS = Problem("field.status")
SINCE = Problem("field.since")
UNTIL = Problem("field.until")


def filters_of(
    request: Request, signed: Signed, t: Translator
) -> tuple[outbox.Filters, dict[str, str], list[PageError]]:
    """The list's filters from the query string, the form's values, and the problems."""
    given = {key: request.query_params.get(key, "").strip() for key in FILTERS}
    errors: list[PageError] = []
    values: dict[str, Any] = {}
    try:
        values["status"] = outbox.status_filter(given["status"] or None, STATUS)
    except InvalidInput as exc:
        errors.extend(errors_of(exc))
    if given["channel"] and given["channel"] not in outbox.CHANNELS:
        errors.append(t("filter_channel_invalid", value=given["channel"]))
    else:
        values["channel"] = given["channel"] or None
    values["event_type"] = given["event_type"] or None
    values["case_id"] = given["case"] or None
    if given["subscriber"]:
        if not signed.may(Role.CLERK):
            errors.append(t("filter_subscriber_clerks"))
        elif not given["subscriber"].isdigit():
            errors.append(t("filter_subscriber_invalid", value=given["subscriber"]))
        else:
            values["subscriber_id"] = int(given["subscriber"])
    if given["before"]:
        if given["before"].isdigit():
            values["before"] = int(given["before"])
        else:
            errors.append(t("filter_before_invalid", value=given["before"]))
    try:
        values["since"], values["until"] = parse_range(
            given["since"] or None, given["until"] or None, (SINCE, UNTIL)
        )
    except InvalidInput as exc:
        errors.extend(errors_of(exc))
    return outbox.Filters(**values, limit=LIMIT), given, errors


def page_links(given: dict[str, str], rows: list[Any]) -> dict[str, str | None]:
    """The list's next page (those after its last row, same filters) and its first page."""
    kept = {k: v for k, v in given.items() if v and k != "before"}
    first = "/obvestila" + (f"?{urlencode(kept)}" if kept else "")
    older = None
    if len(rows) == LIMIT:
        older = "/obvestila?" + urlencode({**kept, "before": str(rows[-1].id)})
    return {"older": older, "newest": first if given["before"] else None}


def held_notice(outcome: HeldOutcome, *, release: bool) -> Notice:
    """What a decision about held notifications did, as `notifications release|cancel` says."""
    values = {"code": outcome.event_type, "count": outcome.notifications}
    if outcome.notifications == 0 and not outcome.storm_ended:
        return Notice([("held_nothing", values)])
    texts = [("held_released" if release else "held_cancelled", values)]
    if outcome.storm_ended:
        texts.append(("held_storm_ended", {}))
    return Notice(texts)


def make_router(console: Console, views: Views) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/obvestila")
    def outbox_page(request: Request) -> Response:
        signed = console.signed(request, Role.VIEWER)
        filters, given, errors = filters_of(request, signed, views.translator(request))
        rows = []
        with console.engine.connect() as conn:
            if not errors:
                rows = outbox.listed(conn, filters)
            held = storm_store.held_summary(conn)
            # The filter's suggestions; a type no rule knows any more can still be typed.
            types = [r.code for r in conn.execute(q("list_event_types"))]
        return views.render(
            request,
            "outbox.html",
            "outbox_title",
            signed=signed,
            active="/obvestila",
            rows=rows,
            given=given,
            errors=errors,
            statuses=outbox.STATUSES,
            channels=outbox.CHANNELS,
            held=held,
            event_types=types,
            pages=page_links(given, rows),
            limit=LIMIT,
            mask=mask_recipient,
            status=400 if errors else 200,
        )

    def detail(
        request: Request,
        signed: Signed,
        notification_id: int,
        *,
        errors: list[PageError] | None = None,
        status: int = 200,
    ) -> Response:
        with console.engine.connect() as conn:
            try:
                row = outbox.one(conn, notification_id)
            except InvalidInput:
                raise HTTPException(404) from None
            attempts = outbox.attempts(conn, notification_id)
            actions = audit.entries(conn, target=f"notification:{notification_id}", limit=100)
        row.pop("event_values", None)
        return views.render(
            request,
            "notification.html",
            "notification_title",
            title_values={"id": notification_id},
            signed=signed,
            active="/obvestila",
            n=row,
            attempts=attempts,
            actions=actions,
            cancellable=row["status"] in outbox.CANCELLABLE,
            recipient=row["recipient"]
            if signed.may(Role.CLERK)
            else mask_recipient(row["recipient"]),
            errors=errors or [],
            status=status,
        )

    @router.get("/obvestila/{notification_id}")
    def notification_page(request: Request, notification_id: int) -> Response:
        return detail(request, console.signed(request, Role.VIEWER), notification_id)

    @router.post("/obvestila/{notification_id}/ponovi")
    def retry(request: Request, notification_id: int, csrf: FormField) -> Response:
        signed = console.signed(request, Role.CLERK)
        console.check_form(request, signed, csrf)
        try:
            result = outbox.retry(
                console.settings,
                console.engine,
                signed.actor,
                sms_policy(console.settings),
                notification_id=notification_id,
            )
        except ObvoError as exc:
            return detail(request, signed, notification_id, errors=errors_of(exc), status=400)
        if result.refused:
            reasons: list[PageError] = [
                Problem("retry.not_retried", {"id": i, "problem": why}) for i, why in result.refused
            ]
            return detail(request, signed, notification_id, errors=reasons, status=409)
        return views.done(request, signed, f"/obvestila/{notification_id}", "notification_retried")

    @router.post("/obvestila/{notification_id}/preklici")
    def cancel(request: Request, notification_id: int, csrf: FormField) -> Response:
        signed = console.signed(request, Role.CLERK)
        console.check_form(request, signed, csrf)
        try:
            with console.engine.begin() as conn:
                outbox.cancel_one(conn, notification_id, signed.actor)
        except InvalidInput as exc:
            return detail(request, signed, notification_id, errors=errors_of(exc), status=400)
        return views.done(
            request, signed, f"/obvestila/{notification_id}", "notification_cancelled"
        )

    # ---- held notifications, by storm ----

    def held_page(
        request: Request, signed: Signed, *, errors: list[PageError] | None = None
    ) -> Response:
        with console.engine.connect() as conn:
            summary = storm_store.held_summary(conn)
            codes = sorted(
                {s["event_type"] for s in summary["storms"]}
                | {h["event_type"] for h in summary["held"]}
            )
            groups = [
                {
                    "code": code,
                    "storms": [s for s in summary["storms"] if s["event_type"] == code],
                    "held": [h for h in summary["held"] if h["event_type"] == code],
                    "rows": outbox.held_notifications(conn, code, 50),
                }
                for code in codes
            ]
        return views.render(
            request,
            "held.html",
            "held_title",
            signed=signed,
            active="/obvestila",
            groups=groups,
            errors=errors or [],
            status=400 if errors else 200,
        )

    @router.get("/zadrzana")
    def held(request: Request) -> Response:
        return held_page(request, console.signed(request, Role.VIEWER))

    def decide(request: Request, code: str, csrf: str, *, release: bool) -> Response:
        signed = console.signed(request, Role.ADMIN)
        console.check_form(request, signed, csrf)
        try:
            with console.engine.begin() as conn:
                outcome = outbox.decide_held(
                    conn,
                    console.settings.database.schema,
                    code.strip(),
                    signed.actor,
                    release=release,
                    field=Problem("field.event_type"),
                )
        except InvalidInput as exc:
            return held_page(request, signed, errors=errors_of(exc))
        return views.done_with(request, signed, "/zadrzana", held_notice(outcome, release=release))

    @router.post("/zadrzana/sprosti")
    def release(request: Request, csrf: FormField, event_type: FormField) -> Response:
        return decide(request, event_type, csrf, release=True)

    @router.post("/zadrzana/preklici")
    def cancel_held(request: Request, csrf: FormField, event_type: FormField) -> Response:
        return decide(request, event_type, csrf, release=False)

    return router
