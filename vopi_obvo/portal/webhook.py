"""`POST /hooks/sms-status`: delivery reports from an HTTP SMS gateway.

The gateway sends JSON (or a form) with our `reference` (the notification id we sent it) and/or
its own message `id`, and a `status`; authenticated by the shared secret `[portal]
sms_status_secret` as `Authorization: Bearer <secret>` (or `X-Obvo-Secret`). Gateways repeat
reports, so a repeat changes nothing and gets the same 200. A report for a message not yet
marked sent gets 409 so the gateway tries again later.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from vopi_obvo.portal import store
from vopi_obvo.portal.context import Portal
from vopi_obvo.queries import q

log = structlog.get_logger("vopi_obvo.portal.webhook")

# Gateways and SMPP receipts name states differently; these are the common spellings.
DELIVERED = {"delivered", "delivrd", "success", "ok"}
UNDELIVERED = {"undelivered", "undeliv", "failed", "expired", "rejected", "rejectd", "deleted"}
IN_TRANSIT = {
    "accepted",
    "acceptd",
    "enroute",
    "buffered",
    "queued",
    "submitted",
    "sent",
    "pending",
}
MAX_BODY = 16_384


@dataclass(frozen=True)
class Report:
    reference: int | None
    provider_id: str | None
    status: str  # as the gateway said it, lower case
    error: str | None


class BadReport(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_report(data: dict[str, Any]) -> Report:
    """A report from its fields (pure); BadReport naming the field that is wrong."""
    raw_reference = data.get("reference")
    reference = None
    if raw_reference not in (None, ""):
        try:
            reference = int(str(raw_reference).strip())
        except ValueError:
            raise BadReport(422, "reference must be the notification id (an integer)") from None
    raw_id = data.get("id")
    provider_id = str(raw_id).strip() if raw_id not in (None, "") else None
    if reference is None and provider_id is None:
        raise BadReport(422, "a report needs reference (our notification id) or id")
    status = str(data.get("status", "")).strip().lower()
    if not status:
        raise BadReport(422, "status is required (delivered or undelivered)")
    if status not in DELIVERED | UNDELIVERED | IN_TRANSIT:
        raise BadReport(422, f"unknown status {status!r} (delivered, undelivered, …)")
    error = data.get("error")
    return Report(reference, provider_id, status, None if error in (None, "") else str(error)[:500])


def final_status(report: Report) -> str | None:
    if report.status in DELIVERED:
        return "delivered"
    if report.status in UNDELIVERED:
        return "undelivered"
    return None


def next_status(current: str, reported: str) -> str | None:
    """The notification's new status, or None to leave it (pure). A delivered message stays
    delivered; an undelivered one may still turn delivered (the network retried)."""
    if current in (reported, "delivered"):
        return None
    if current in ("sent", "failed", "undelivered") and reported == "delivered":
        return "delivered"
    if current in ("sent", "failed") and reported == "undelivered":
        return "undelivered"
    return None


def make_router(portal: Portal) -> APIRouter:
    router = APIRouter(include_in_schema=True, tags=["delivery reports"])

    def refuse(request: Request, status: int, reason: str) -> JSONResponse:
        with portal.engine.begin() as conn:
            store.audit(
                conn,
                actor="sms-gateway",
                action="hook.sms_status",
                outcome="refused",
                peer=portal.peer(request),
                detail={"status": status, "reason": reason},
            )
        log.warning("portal.hook_refused", status=status, reason=reason)
        return JSONResponse({"error": reason}, status_code=status)

    @router.post("/hooks/sms-status", summary="SMS delivery report (gateway → OBVO)")
    async def sms_status(request: Request) -> JSONResponse:
        secret = portal.settings.portal.sms_status_secret
        if not secret:
            return JSONResponse({"error": "delivery reports are not enabled"}, status_code=404)
        given = request.headers.get("x-obvo-secret", "")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            given = token.strip()
        if not given or not hmac.compare_digest(given.encode(), secret.encode()):
            return refuse(request, 401, "missing or wrong shared secret")
        body = await request.body()
        if len(body) > MAX_BODY:
            return refuse(request, 413, "report too large")
        try:
            report = parse_report(await _fields(request, body))
        except BadReport as exc:
            return refuse(request, exc.status, str(exc))
        status, reply = await run_in_threadpool(_apply, portal, report)
        if status >= 400:
            return refuse(request, status, str(reply["error"]))
        return JSONResponse(reply, status_code=status)

    return router


async def _fields(request: Request, body: bytes) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            data = json.loads(body or b"null")
        except ValueError:
            raise BadReport(400, "the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise BadReport(422, "the body must be a JSON object")
        return data
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}
    raise BadReport(415, "send application/json or a form")


def _apply(portal: Portal, report: Report) -> tuple[int, dict[str, Any]]:
    if report.reference is not None and report.reference < 0:
        # A confirmation code's SMS (see changes.py): nothing to record.
        return 200, {"result": "ignored", "reason": "confirmation code"}
    reported = final_status(report)
    with portal.engine.begin() as conn:
        notification_id = report.reference
        if notification_id is None:
            found = conn.execute(
                q("portal_notification_by_provider_id"), {"provider_id": report.provider_id}
            ).scalar()
            notification_id = None if found is None else int(found)
        row = (
            None
            if notification_id is None
            else conn.execute(
                q("portal_notification_for_report"), {"id": notification_id}
            ).one_or_none()
        )
        if row is None:
            return 404, {"error": "no such notification"}
        if row.channel != "sms":
            return 422, {"error": f"notification {row.id} is not an SMS"}
        if report.provider_id and row.provider_id and report.provider_id != row.provider_id:
            return 409, {"error": f"id does not match notification {row.id}'s gateway id"}
        if row.status in ("pending", "sending"):
            return 409, {"error": f"notification {row.id} is not sent yet; repeat the report"}
        if reported is None:
            return 202, {"notification_id": row.id, "status": row.status, "changed": False}
        _record(conn, row.id, reported, report)
        new = next_status(row.status, reported)
        if new is not None:
            conn.execute(
                q("portal_set_delivery_status"),
                {
                    "id": row.id,
                    "status": new,
                    "error": report.error if new != "delivered" else None,
                },
            )
    log.info(
        "portal.sms_status", notification_id=row.id, reported=reported, changed=new is not None
    )
    return 200, {"notification_id": row.id, "status": new or row.status, "changed": new is not None}


def _record(conn: sa.Connection, notification_id: int, status: str, report: Report) -> None:
    conn.execute(
        q("portal_record_status_report"),
        {
            "notification_id": notification_id,
            "status": status,
            "provider_status": report.status,
            "error": report.error,
        },
    )
