"""Unsubscribe: key events only, or everything; and the List-Unsubscribe target (RFC 8058),
where no certificate is asked for: the signed token is the authority."""

from __future__ import annotations

import dataclasses

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response

from vopi_obvo.messages import unsubscribe
from vopi_obvo.portal import store
from vopi_obvo.portal.pages.base import FormField, Pages

log = structlog.get_logger("vopi_obvo.portal")


def router(pages: Pages) -> APIRouter:
    portal = pages.portal
    routes = APIRouter(include_in_schema=False)

    @routes.get("/odjava")
    def unsubscribe_page(request: Request) -> Response:
        citizen, party_id = pages.linked(request)
        with portal.engine.connect() as conn:
            sub = store.subscription(conn, party_id)
        return pages.render(
            request,
            "unsubscribe.html",
            "unsub_title",
            citizen=citizen,
            active="unsubscribe",
            subscription=sub,
        )

    @routes.post("/odjava")
    def unsubscribe_post(request: Request, csrf: FormField = "", what: FormField = "") -> Response:
        citizen, party_id = pages.linked(request)
        pages.check_csrf(citizen, csrf)
        with portal.engine.begin() as conn:
            sub = store.subscription(conn, party_id)
            if sub is None or what not in ("key", "all"):
                return pages.see_other("/odjava")
            if what == "key":
                store.update_subscription(conn, dataclasses.replace(sub, events="key"))
                pages.audit(
                    citizen, request, "unsubscribe.key_only", subscriber_id=sub.id, conn=conn
                )
            else:
                store.delete_subscription(conn, sub.id)
                pages.audit(citizen, request, "unsubscribe.all", subscriber_id=sub.id, conn=conn)
        if what == "key":
            return pages.see_other("/obvestila?ok=key")
        t = pages.translator(request)
        return pages.message(request, "unsub_title", [t("unsub_done")], citizen=citizen)

    def token_target(token: str) -> tuple[int, str] | None:
        secret = portal.settings.email.unsubscribe_secret
        if not secret:
            return None
        try:
            parsed = unsubscribe.verify(token, secret)
        except ValueError:
            return None
        if parsed is None:
            return None
        with portal.engine.connect() as conn:
            owner = store.notification_owner(conn, parsed.notification_id)
        if owner is None or owner[0] != parsed.subscriber_id:
            return None
        return parsed.subscriber_id, owner[1]

    def list_unsubscribe_page(
        request: Request, *, valid: bool, done: bool = False, status: int = 200
    ) -> Response:
        return pages.render(
            request,
            "list_unsubscribe.html",
            "list_unsub_title",
            valid=valid,
            done=done,
            status=status,
        )

    @routes.get("/odjava/{token}")
    def list_unsubscribe_get(request: Request, token: str) -> Response:
        valid = token_target(token) is not None
        return list_unsubscribe_page(request, valid=valid, status=200 if valid else 404)

    @routes.post("/odjava/{token}")
    def list_unsubscribe_post(request: Request, token: str) -> Response:
        target = token_target(token)
        if target is None:
            return list_unsubscribe_page(request, valid=False, status=404)
        subscriber_id, channel = target
        with portal.engine.begin() as conn:
            changed = store.add_key_only_channel(conn, subscriber_id, channel)
            pages.audit(
                None,
                request,
                "list_unsubscribe",
                actor="list-unsubscribe",
                subscriber_id=subscriber_id,
                detail={"channel": channel, "changed": changed},
                conn=conn,
            )
        log.info("portal.list_unsubscribe", subscriber_id=subscriber_id, channel=channel)
        return list_unsubscribe_page(request, valid=True, done=True)

    return routes
