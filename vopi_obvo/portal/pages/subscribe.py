"""Subscribe (the e-vloga): the first subscription, with consent; each channel waits for its
code before it is stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from vopi_obvo.portal import forms, store
from vopi_obvo.portal.codes import Purpose
from vopi_obvo.portal.pages.base import CodesToSend, FormPage, Pages

PAGE = FormPage(
    "subscribe.html",
    "subscribe_title",
    None,
    ("consent",),
    ("email", "phone", "events", "language", "consent"),
)


def router(pages: Pages) -> APIRouter:
    portal = pages.portal
    routes = APIRouter(include_in_schema=False)

    def subscribed(party_id: str) -> bool:
        with portal.engine.connect() as conn:
            return store.subscription(conn, party_id) is not None

    @routes.get("/narocilo")
    def subscribe_page(request: Request) -> Response:
        citizen, party_id = pages.linked(request)
        if subscribed(party_id):
            return pages.see_other("/obvestila")
        form = {
            "email": "",
            "phone": "",
            "events": "all",
            "language": portal.language(request),
            "consent": False,
        }
        return pages.render(
            request, PAGE.template, PAGE.title_key, citizen=citizen, form=form, errors={}
        )

    @routes.post("/narocilo")
    def subscribe_post(
        request: Request, posted: Annotated[dict[str, str], Depends(PAGE.posted)]
    ) -> Response:
        citizen, party_id, raw = pages.posted_form(request, posted)
        if subscribed(party_id):
            return pages.see_other("/obvestila")

        def apply(plan: forms.SubscribePlan) -> CodesToSend:
            consent_at = portal.clock().isoformat()
            pages.audit(
                citizen,
                request,
                "subscribe.requested",
                detail={"consent_at": consent_at, "events": plan.events},
            )
            return CodesToSend(
                targets=((Purpose.EMAIL, plan.email), (Purpose.PHONE, plan.phone)),
                payload={
                    "subscribe": {
                        "events": plan.events,
                        "language": plan.language,
                        "consent_at": consent_at,
                    }
                },
                done="/potrditev",
            )

        return pages.validate_send_render(
            request, citizen, PAGE, raw, plan=forms.plan_subscribe, apply=apply
        )

    return routes
