"""Settings: channels, addresses, which events, language; a new address waits for its code."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from vopi_obvo.portal import forms, store
from vopi_obvo.portal.codes import Purpose
from vopi_obvo.portal.pages.base import CodesToSend, FormPage, Pages

PAGE = FormPage(
    "settings.html",
    "settings_title",
    "settings",
    ("email_on", "sms_on", "email_key_only", "sms_key_only"),
    (
        "email_on",
        "email",
        "email_key_only",
        "sms_on",
        "phone",
        "sms_key_only",
        "events",
        "language",
    ),
)
FIELDS = ("email", "phone", "events", "language", "key_only_channels")


def settings_form(sub: store.Subscription) -> dict[str, Any]:
    return {
        "email_on": bool(sub.email),
        "email": sub.email or "",
        "email_key_only": "email" in sub.key_only_channels,
        "sms_on": bool(sub.phone),
        "phone": sub.phone or "",
        "sms_key_only": "sms" in sub.key_only_channels,
        "events": sub.events,
        "language": sub.language,
    }


def router(pages: Pages) -> APIRouter:
    portal = pages.portal
    routes = APIRouter(include_in_schema=False)

    @routes.get("/nastavitve")
    def settings_page(request: Request) -> Response:
        citizen, party_id = pages.linked(request)
        with portal.engine.connect() as conn:
            sub = store.subscription(conn, party_id)
        if sub is None:
            return pages.see_other("/narocilo")
        return pages.render(
            request,
            PAGE.template,
            PAGE.title_key,
            citizen=citizen,
            active=PAGE.active,
            form=settings_form(sub),
            errors={},
        )

    @routes.post("/nastavitve")
    def settings_save(
        request: Request, posted: Annotated[dict[str, str], Depends(PAGE.posted)]
    ) -> Response:
        citizen, party_id, raw = pages.posted_form(request, posted)
        with portal.engine.connect() as conn:
            sub = store.subscription(conn, party_id)
        if sub is None:
            return pages.see_other("/narocilo")
        current = sub

        def apply(plan: forms.SettingsPlan) -> CodesToSend:
            changed = dataclasses.replace(
                current,
                email=plan.email,
                phone=plan.phone,
                events=plan.events,
                language=plan.language,
                key_only_channels=plan.key_only_channels,
            )
            awaiting = [
                p for p, v in (("email", plan.confirm_email), ("phone", plan.confirm_phone)) if v
            ]
            with portal.engine.begin() as conn:
                store.update_subscription(conn, changed)
                pages.audit(
                    citizen,
                    request,
                    "settings.changed",
                    subscriber_id=current.id,
                    detail={
                        "fields": [f for f in FIELDS if getattr(changed, f) != getattr(current, f)],
                        "awaiting_code": awaiting,
                    },
                    conn=conn,
                )
            return CodesToSend(
                targets=((Purpose.EMAIL, plan.confirm_email), (Purpose.PHONE, plan.confirm_phone)),
                payload={"drop": plan.drop_after_confirm} if plan.drop_after_confirm else {},
                done="/obvestila?ok=saved",
            )

        return pages.validate_send_render(
            request,
            citizen,
            PAGE,
            raw,
            plan=lambda form: forms.plan_settings(form, current),
            apply=apply,
        )

    return routes
