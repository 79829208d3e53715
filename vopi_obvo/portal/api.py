"""JSON API for the municipality's own portal: read and change a person's settings, create and
end a subscription, list what was sent. Each client has its own token (only its hash is in
the configuration); every call, allowed or refused, is in the portal's audit trail.

The API trusts its client to have identified the citizen (it is the municipality's own
system), so a new address takes effect at once, exactly as with `obvo subscribers add`; the
validation is the CLI's (vopi_obvo/contacts.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from vopi_obvo.errors import InvalidInput
from vopi_obvo.messages.contacts import normalise_email, normalise_phone
from vopi_obvo.portal import store, tokens
from vopi_obvo.portal.context import Portal

log = structlog.get_logger("vopi_obvo.portal.api")

Level = Literal["all", "key"]
ChannelName = Literal["email", "sms"]
PARTY_ID = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^\S(.*\S)?$")]
LANGUAGE = Annotated[str, Field(pattern=r"^[a-z]{2}$", description="two-letter code: sl, it, …")]


class ApiError(Exception):
    """A refused call: the JSON error, and an audit entry written by the app's handler."""

    def __init__(
        self, status: int, error: str, field: str | None = None, *, reason: str | None = None
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.field = field
        self.reason = reason


class ErrorOut(BaseModel):
    error: str
    field: str | None = None


class SubscriptionOut(BaseModel):
    id: int
    party_id: str
    email: str | None
    phone: str | None = Field(description="E.164, e.g. +38641123456")
    events: Level
    language: str
    key_only_channels: list[ChannelName]
    origin: str | None
    consent_at: dt.datetime | None


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    party_id: PARTY_ID
    email: str | None = None
    phone: str | None = Field(default=None, description="041 123 456 or +386 41 123 456")
    events: Level = "all"
    language: LANGUAGE = "sl"
    origin: Literal["e_vloga", "in_person", "written"] = "e_vloga"
    reference: str | None = Field(default=None, max_length=200)
    consent_at: dt.datetime | None = Field(
        default=None, description="when the citizen consented; default: now"
    )


class SubscriptionChange(BaseModel):
    """Only the fields given change; null removes a channel (one must remain)."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = None
    phone: str | None = None
    events: Level | None = None
    language: LANGUAGE | None = None
    key_only_channels: list[ChannelName] | None = None


class NotificationOut(BaseModel):
    id: int
    created_at: dt.datetime
    sent_at: dt.datetime | None
    channel: ChannelName
    event_type: str
    event_name: str | None
    case_id: str | None
    status: str
    subject: str | None


def _out(sub: store.Subscription) -> SubscriptionOut:
    return SubscriptionOut(
        id=sub.id,
        party_id=sub.party_id,
        email=sub.email,
        phone=sub.phone,
        events="key" if sub.events == "key" else "all",
        language=sub.language,
        key_only_channels=[c for c in ("email", "sms") if c in sub.key_only_channels],
        origin=sub.origin,
        consent_at=sub.consent_at,
    )


def _contact(kind: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return normalise_email(value) if kind == "email" else normalise_phone(value)
    except InvalidInput as exc:
        raise ApiError(422, str(exc), kind) from None


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing or unknown API token"},
    422: {"model": ErrorOut, "description": "invalid input; `field` names it"},
}


bearer = HTTPBearer(auto_error=False, description="a client token from [portal] api_tokens")


def api_client(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    """The calling client's name, from its bearer token; ApiError 401 (audited) otherwise."""
    portal: Portal = request.app.state.portal
    name = (
        tokens.client_for(credentials.credentials, portal.config.api_clients)
        if credentials is not None
        else None
    )
    if name is None:
        raise ApiError(
            401,
            "a valid API token is required (Authorization: Bearer …)",
            reason="no token" if credentials is None else "unknown token",
        )
    request.state.api_client = name
    return name


Client = Annotated[str, Depends(api_client)]


def make_router(portal: Portal) -> APIRouter:  # noqa: PLR0915 - one closure per endpoint
    router = APIRouter(prefix="/api/v1", tags=["subscriptions"], responses=ERRORS)

    def audit(
        request: Request,
        name: str,
        action: str,
        party_id: str | None,
        *,
        outcome: str = "ok",
        subscriber_id: int | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        with portal.engine.begin() as conn:
            store.audit(
                conn,
                actor=f"api:{name}",
                action=f"api.{action}",
                outcome=outcome,
                party_id=party_id,
                subscriber_id=subscriber_id,
                peer=portal.peer(request),
                detail=detail,
            )

    def existing(party_id: str) -> store.Subscription:
        with portal.engine.connect() as conn:
            sub = store.subscription(conn, party_id)
        if sub is None:
            raise ApiError(404, f"party {party_id} has no subscription", "party_id")
        return sub

    @router.get(
        "/subscriptions/{party_id}",
        responses={404: {"model": ErrorOut}},
        summary="A party's subscription",
    )
    def read(request: Request, name: Client, party_id: str) -> SubscriptionOut:
        sub = existing(party_id)
        audit(request, name, "read", party_id, subscriber_id=sub.id)
        return _out(sub)

    @router.post(
        "/subscriptions",
        status_code=201,
        responses={409: {"model": ErrorOut}},
        summary="Subscribe a party (e-vloga)",
    )
    def create(request: Request, name: Client, body: SubscriptionCreate) -> SubscriptionOut:
        email, phone = _contact("email", body.email), _contact("phone", body.phone)
        if email is None and phone is None:
            raise ApiError(422, "a subscription needs at least one channel: email and/or phone")
        consent_at = body.consent_at or portal.clock()
        if consent_at.tzinfo is None:
            raise ApiError(
                422, "consent_at needs a time zone (e.g. 2026-03-01T10:00:00+01:00)", "consent_at"
            )
        with portal.engine.begin() as conn:
            new_id = store.insert_subscription(
                conn,
                party_id=body.party_id,
                email=email,
                phone=phone,
                events=body.events,
                language=body.language,
                origin=body.origin,
                consent_at=consent_at,
                reference=body.reference,
            )
            if new_id is not None:
                store.audit(
                    conn,
                    actor=f"api:{name}",
                    action="api.create",
                    party_id=body.party_id,
                    subscriber_id=new_id,
                    peer=portal.peer(request),
                    detail={"origin": body.origin, "consent_at": consent_at.isoformat()},
                )
        if new_id is None:
            raise ApiError(409, f"party {body.party_id} is already subscribed", "party_id")
        return _out(existing(body.party_id))

    @router.patch(
        "/subscriptions/{party_id}",
        responses={404: {"model": ErrorOut}},
        summary="Change a party's settings",
    )
    def change(
        request: Request, name: Client, party_id: str, body: SubscriptionChange
    ) -> SubscriptionOut:
        sub = existing(party_id)
        given = body.model_fields_set
        updates: dict[str, Any] = {}
        if "email" in given:
            updates["email"] = _contact("email", body.email)
        if "phone" in given:
            updates["phone"] = _contact("phone", body.phone)
        for field in ("events", "language"):
            if field in given:
                if getattr(body, field) is None:
                    raise ApiError(422, f"{field} cannot be null", field)
                updates[field] = getattr(body, field)
        if "key_only_channels" in given:
            updates["key_only_channels"] = tuple(sorted(set(body.key_only_channels or [])))
        changed = dataclasses.replace(sub, **updates)
        if changed.email is None and changed.phone is None:
            raise ApiError(
                422, "a subscription needs at least one channel; to end it, use DELETE", "email"
            )
        with portal.engine.begin() as conn:
            store.update_subscription(conn, changed)
        audit(
            request,
            name,
            "change",
            party_id,
            subscriber_id=sub.id,
            detail={"fields": sorted(k for k in updates if updates[k] != getattr(sub, k))},
        )
        return _out(existing(party_id))

    @router.delete(
        "/subscriptions/{party_id}",
        status_code=204,
        responses={404: {"model": ErrorOut}},
        summary="End a party's subscription",
    )
    def remove(request: Request, name: Client, party_id: str) -> Response:
        sub = existing(party_id)
        with portal.engine.begin() as conn:
            store.delete_subscription(conn, sub.id)
        audit(request, name, "delete", party_id, subscriber_id=sub.id)
        return Response(status_code=204)

    @router.get(
        "/subscriptions/{party_id}/notifications",
        responses={404: {"model": ErrorOut}},
        summary="What was sent to a party lately",
    )
    def notifications(
        request: Request,
        name: Client,
        party_id: str,
        days: Annotated[int, Query(ge=1, le=3660)] = 90,
    ) -> list[NotificationOut]:
        sub = existing(party_id)
        with portal.engine.connect() as conn:
            rows = store.party_notifications(conn, party_id, days)
        audit(request, name, "notifications", party_id, subscriber_id=sub.id)
        return [
            NotificationOut(
                id=n.id,
                created_at=n.created_at,
                sent_at=n.sent_at,
                channel="sms" if n.channel == "sms" else "email",
                event_type=n.event_type,
                event_name=n.event_name,
                case_id=n.case_id,
                status=n.status,
                subject=n.subject,
            )
            for n in rows
        ]

    return router


def audit_refusal(
    portal: Portal, request: Request, status: int, reason: str | None, field: str | None
) -> None:
    """Every refused API call: bad token, unknown party, invalid input, conflict."""
    route = request.scope.get("route")
    name = getattr(request.state, "api_client", None)
    party_id = request.path_params.get("party_id")
    with portal.engine.begin() as conn:
        store.audit(
            conn,
            actor=f"api:{name or 'unknown'}",
            action=f"api.{getattr(route, 'name', 'unknown')}",
            outcome="refused",
            party_id=str(party_id) if party_id is not None else None,
            peer=portal.peer(request),
            detail={"status": status, "reason": reason, "field": field},
        )
    log.warning("portal.api_refused", route=getattr(route, "path", None), status=status)


def error_response(exc: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(
        ErrorOut(error=exc.error, field=exc.field).model_dump(),
        status_code=exc.status,
        headers=headers,
    )
