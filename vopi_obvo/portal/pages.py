"""The citizen's pages: my notifications, settings, confirmation codes, subscribe, unsubscribe,
linking a first sign-in to a VOPI party, and the List-Unsubscribe target.

Plain HTML forms (no JavaScript), a CSRF token in every form of a signed-in page, and the
Post/Redirect/Get pattern so a reload never submits twice. Handlers are synchronous: FastAPI
runs them in its thread pool, beside the blocking database calls.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any

import sqlalchemy as sa
import structlog
from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from vopi_obvo.errors import InvalidInput
from vopi_obvo.messages import unsubscribe
from vopi_obvo.messages.contacts import normalise_email, normalise_phone
from vopi_obvo.messages.templates import LJUBLJANA
from vopi_obvo.portal import changes, forms, store
from vopi_obvo.portal.codes import Purpose
from vopi_obvo.portal.context import STATIC_DIR, Citizen, PageRefusal, Portal
from vopi_obvo.portal.texts import LANGUAGES, TEXTS, Translator
from vopi_obvo.web import sessions

log = structlog.get_logger("vopi_obvo.portal")

FormField = Annotated[str, Form()]
# Notices a redirect may ask the next page to show (never free text from the URL).
NOTICES = {
    "saved": "saved",
    "email": "code_confirmed_email",
    "phone": "code_confirmed_phone",
    "linked": "linked_ok",
    "key": "saved",
}


def local_time(moment: dt.datetime) -> str:
    value = moment.astimezone(LJUBLJANA)
    return f"{value.day}. {value.month}. {value.year} {value:%H:%M}"


def make_router(portal: Portal) -> APIRouter:  # noqa: PLR0915 - one closure per page
    router = APIRouter(include_in_schema=False)

    def render(
        request: Request,
        template: str,
        title_key: str,
        *,
        citizen: Citizen | None = None,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        lang = portal.language(request)
        t = Translator(lang)
        html = portal.templates.get_template(template).render(
            t=t,
            lang=lang,
            title=t(title_key),
            citizen=citizen,
            languages=[(code, TEXTS[code]["language_name"]) for code in LANGUAGES],
            local_time=local_time,
            known_statuses=[k for k in TEXTS["sl"] if k.startswith("status_")],
            notice=context.pop("notice", None),
            active=context.pop("active", None),
            home_link=context.pop("home_link", False),
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def see_other(path: str) -> RedirectResponse:
        return RedirectResponse(path, status_code=303)

    def linked(request: Request) -> tuple[Citizen, str] | RedirectResponse:
        citizen = portal.citizen(request)
        if citizen.party_id is None:
            return see_other("/povezava")
        return citizen, citizen.party_id

    def check_csrf(citizen: Citizen, token: str) -> None:
        if not sessions.csrf_matches(token, citizen.csrf_token):
            raise PageRefusal(403, "csrf_title", "csrf_text")

    def limit_codes(request: Request, citizen: Citizen) -> None:
        if not (
            portal.code_limiter.allow(f"ip:{portal.client_address(request)}")
            and portal.code_limiter.allow(f"identity:{citizen.identity_id}")
        ):
            raise PageRefusal(429, "too_many_title", "too_many_text")

    def audit(
        citizen: Citizen | None,
        request: Request,
        action: str,
        *,
        actor: str | None = None,
        outcome: str = "ok",
        subscriber_id: int | None = None,
        detail: Mapping[str, Any] | None = None,
        conn: sa.Connection | None = None,
    ) -> None:
        def write(c: sa.Connection) -> None:
            store.audit(
                c,
                actor=actor or (citizen.actor if citizen else "anonymous"),
                action=action,
                outcome=outcome,
                party_id=citizen.party_id if citizen else None,
                subscriber_id=subscriber_id,
                peer=portal.peer(request),
                detail=detail,
            )

        if conn is not None:
            write(conn)
        else:
            with portal.engine.begin() as c:
                write(c)

    @router.get("/")
    def root(request: Request) -> Response:
        portal.citizen(request)
        return see_other("/obvestila")

    @router.get("/static/portal.css")
    def stylesheet() -> Response:
        return FileResponse(STATIC_DIR / "portal.css", media_type="text/css")

    # ---- my notifications ----

    @router.get("/obvestila")
    def home(request: Request, ok: str = "") -> Response:
        found = linked(request)
        if isinstance(found, RedirectResponse):
            return found
        citizen, party_id = found
        days = portal.settings.portal.history_days
        with portal.engine.connect() as conn:
            subscription = store.subscription(conn, party_id)
            pending = [
                c.code
                for c in store.open_codes(conn, citizen.identity_id)
                if c.code.purpose is not Purpose.LINK
            ]
            key_types = store.key_event_types(conn)
            history = store.party_notifications(conn, party_id, days)
        t = Translator(portal.language(request))
        return render(
            request,
            "home.html",
            "home_title",
            citizen=citizen,
            active="home",
            notice=t(NOTICES[ok]) if ok in NOTICES else None,
            subscription=subscription,
            pending=pending,
            key_types=key_types,
            history=history,
            days=days,
        )

    # ---- settings ----

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

    @router.get("/nastavitve")
    def settings_page(request: Request) -> Response:
        found = linked(request)
        if isinstance(found, RedirectResponse):
            return found
        citizen, party_id = found
        with portal.engine.connect() as conn:
            sub = store.subscription(conn, party_id)
        if sub is None:
            return see_other("/narocilo")
        return render(
            request,
            "settings.html",
            "settings_title",
            citizen=citizen,
            active="settings",
            form=settings_form(sub),
            errors={},
        )

    @router.post("/nastavitve")
    def settings_save(
        request: Request,
        *,
        csrf: FormField = "",
        email_on: FormField = "",
        email: FormField = "",
        email_key_only: FormField = "",
        sms_on: FormField = "",
        phone: FormField = "",
        sms_key_only: FormField = "",
        events: FormField = "",
        language: FormField = "",
    ) -> Response:
        found = linked(request)
        if isinstance(found, RedirectResponse):
            return found
        citizen, party_id = found
        check_csrf(citizen, csrf)
        raw = {
            "email_on": email_on,
            "email": email,
            "email_key_only": email_key_only,
            "sms_on": sms_on,
            "phone": phone,
            "sms_key_only": sms_key_only,
            "events": events,
            "language": language,
        }
        with portal.engine.connect() as conn:
            sub = store.subscription(conn, party_id)
        if sub is None:
            return see_other("/narocilo")
        plan, errors = forms.plan_settings(raw, sub)
        if plan is None:
            form = raw | {k: raw[k] == "on" for k in ("email_on", "sms_on")}
            form |= {k: raw[k] == "on" for k in ("email_key_only", "sms_key_only")}
            return render(
                request,
                "settings.html",
                "settings_title",
                citizen=citizen,
                active="settings",
                form=form,
                errors=errors,
                status=400,
            )
        changed = dataclasses.replace(
            sub,
            email=plan.email,
            phone=plan.phone,
            events=plan.events,
            language=plan.language,
            key_only_channels=plan.key_only_channels,
        )
        fields = [
            f
            for f in ("email", "phone", "events", "language", "key_only_channels")
            if getattr(changed, f) != getattr(sub, f)
        ]
        with portal.engine.begin() as conn:
            store.update_subscription(conn, changed)
            audit(
                citizen,
                request,
                "settings.changed",
                subscriber_id=sub.id,
                detail={
                    "fields": fields,
                    "awaiting_code": [
                        p
                        for p, v in (("email", plan.confirm_email), ("phone", plan.confirm_phone))
                        if v
                    ],
                },
                conn=conn,
            )
        lang = portal.language(request)
        payload = {"drop": plan.drop_after_confirm} if plan.drop_after_confirm else {}
        for purpose, target in (
            (Purpose.EMAIL, plan.confirm_email),
            (Purpose.PHONE, plan.confirm_phone),
        ):
            if target is None:
                continue
            problem = send_code(
                request, citizen, purpose, target, send_to=target, lang=lang, payload=payload
            )
            if problem:
                return render(
                    request,
                    "message.html",
                    "error_title",
                    citizen=citizen,
                    status=problem[0],
                    paragraphs=[problem[1]],
                    home_link=True,
                )
        if plan.confirm_email or plan.confirm_phone:
            return see_other("/potrditev")
        return see_other("/obvestila?ok=saved")

    def send_code(
        request: Request,
        citizen: Citizen,
        purpose: Purpose,
        target: str,
        *,
        send_to: str,
        lang: str,
        payload: Mapping[str, Any],
    ) -> tuple[int, str] | None:
        """None when sent; else the status and the message to show."""
        t = Translator(lang)
        try:
            changes.issue_code(
                portal,
                portal.peer(request),
                citizen,
                purpose,
                target=target,
                send_to=send_to,
                language=lang,
                payload=payload,
            )
        except changes.CodeLimitReached as exc:
            return 429, t("err_code_limit", n=exc.count)
        except changes.CodeNotSent:
            return 503, t("err_send_code")
        return None

    # ---- confirmation codes ----

    def confirm_page(
        request: Request, citizen: Citizen, message: str | None = None, status: int = 200
    ) -> HTMLResponse:
        with portal.engine.connect() as conn:
            pending = [
                c.code
                for c in store.open_codes(conn, citizen.identity_id)
                if c.code.purpose is not Purpose.LINK
            ]
        return render(
            request,
            "confirm.html",
            "confirm_title",
            citizen=citizen,
            pending=pending,
            message=message,
            minutes=max(1, round(portal.settings.portal.code_ttl / 60)),
            status=status,
        )

    @router.get("/potrditev")
    def confirm_get(request: Request) -> Response:
        found = linked(request)
        if isinstance(found, RedirectResponse):
            return found
        return confirm_page(request, found[0])

    @router.post("/potrditev")
    def confirm_post(
        request: Request, csrf: FormField = "", purpose: FormField = "", code: FormField = ""
    ) -> Response:
        found = linked(request)
        if isinstance(found, RedirectResponse):
            return found
        citizen = found[0]
        check_csrf(citizen, csrf)
        limit_codes(request, citizen)
        if purpose not in (Purpose.EMAIL, Purpose.PHONE):
            return confirm_page(request, citizen, status=400)
        result = changes.confirm(
            portal, portal.peer(request), citizen, Purpose(purpose), entered=code
        )
        t = Translator(portal.language(request))
        if result.outcome is changes.Outcome.CONFIRMED:
            return see_other(f"/obvestila?ok={purpose}")
        message = {
            changes.Outcome.WRONG: t("code_wrong", left=result.attempts_left),
            changes.Outcome.EXPIRED: t("code_expired"),
            changes.Outcome.LOCKED: t("code_locked"),
            changes.Outcome.GONE: t("unsub_none"),
            changes.Outcome.NONE: t("confirm_none"),
        }[result.outcome]
        return confirm_page(request, citizen, message, status=400)

    @router.post("/potrditev/nova")
    def confirm_resend(request: Request, csrf: FormField = "", purpose: FormField = "") -> Response:
        found = linked(request)
        if isinstance(found, RedirectResponse):
            return found
        citizen = found[0]
        check_csrf(citizen, csrf)
        limit_codes(request, citizen)
        with portal.engine.connect() as conn:
            waiting = [
                c for c in store.open_codes(conn, citizen.identity_id) if c.code.purpose == purpose
            ]
        if not waiting or purpose not in (Purpose.EMAIL, Purpose.PHONE):
            return confirm_page(request, citizen, status=400)
        last = waiting[-1]
        problem = send_code(
            request,
            citizen,
            last.code.purpose,
            last.code.target,
            send_to=last.code.target,
            lang=portal.language(request),
            payload=last.payload,
        )
        if problem:
            return confirm_page(request, citizen, problem[1], status=problem[0])
        return see_other("/potrditev")

    # ---- subscribe (e-vloga) ----

    @router.get("/narocilo")
    def subscribe_page(request: Request) -> Response:
        found = linked(request)
        if isinstance(found, RedirectResponse):
            return found
        citizen, party_id = found
        with portal.engine.connect() as conn:
            if store.subscription(conn, party_id) is not None:
                return see_other("/obvestila")
        form = {
            "email": "",
            "phone": "",
            "events": "all",
            "language": portal.language(request),
            "consent": False,
        }
        return render(
            request, "subscribe.html", "subscribe_title", citizen=citizen, form=form, errors={}
        )

    @router.post("/narocilo")
    def subscribe_post(
        request: Request,
        *,
        csrf: FormField = "",
        email: FormField = "",
        phone: FormField = "",
        events: FormField = "",
        language: FormField = "",
        consent: FormField = "",
    ) -> Response:
        found = linked(request)
        if isinstance(found, RedirectResponse):
            return found
        citizen, party_id = found
        check_csrf(citizen, csrf)
        raw = {
            "email": email,
            "phone": phone,
            "events": events,
            "language": language,
            "consent": consent,
        }
        with portal.engine.connect() as conn:
            if store.subscription(conn, party_id) is not None:
                return see_other("/obvestila")
        plan, errors = forms.plan_subscribe(raw)
        if plan is None:
            form = raw | {"consent": consent == "on"}
            return render(
                request,
                "subscribe.html",
                "subscribe_title",
                citizen=citizen,
                form=form,
                errors=errors,
                status=400,
            )
        consent_at = portal.clock()
        payload = {
            "subscribe": {
                "events": plan.events,
                "language": plan.language,
                "consent_at": consent_at.isoformat(),
            }
        }
        audit(
            citizen,
            request,
            "subscribe.requested",
            detail={"consent_at": consent_at.isoformat(), "events": plan.events},
        )
        lang = portal.language(request)
        for purpose, target in ((Purpose.EMAIL, plan.email), (Purpose.PHONE, plan.phone)):
            if target is None:
                continue
            problem = send_code(
                request, citizen, purpose, target, send_to=target, lang=lang, payload=payload
            )
            if problem:
                return render(
                    request,
                    "message.html",
                    "error_title",
                    citizen=citizen,
                    status=problem[0],
                    paragraphs=[problem[1]],
                    home_link=True,
                )
        return see_other("/potrditev")

    # ---- unsubscribe ----

    @router.get("/odjava")
    def unsubscribe_page(request: Request) -> Response:
        found = linked(request)
        if isinstance(found, RedirectResponse):
            return found
        citizen, party_id = found
        with portal.engine.connect() as conn:
            sub = store.subscription(conn, party_id)
        return render(
            request,
            "unsubscribe.html",
            "unsub_title",
            citizen=citizen,
            active="unsubscribe",
            subscription=sub,
        )

    @router.post("/odjava")
    def unsubscribe_post(request: Request, csrf: FormField = "", what: FormField = "") -> Response:
        found = linked(request)
        if isinstance(found, RedirectResponse):
            return found
        citizen, party_id = found
        check_csrf(citizen, csrf)
        with portal.engine.begin() as conn:
            sub = store.subscription(conn, party_id)
            if sub is None or what not in ("key", "all"):
                return see_other("/odjava")
            if what == "key":
                store.update_subscription(conn, dataclasses.replace(sub, events="key"))
                audit(citizen, request, "unsubscribe.key_only", subscriber_id=sub.id, conn=conn)
            else:
                store.delete_subscription(conn, sub.id)
                audit(citizen, request, "unsubscribe.all", subscriber_id=sub.id, conn=conn)
        if what == "key":
            return see_other("/obvestila?ok=key")
        t = Translator(portal.language(request))
        return render(
            request,
            "message.html",
            "unsub_title",
            citizen=citizen,
            paragraphs=[t("unsub_done")],
            home_link=True,
        )

    # ---- List-Unsubscribe (RFC 8058): no certificate, the signed token is the authority ----

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

    @router.get("/odjava/{token}")
    def list_unsubscribe_page(request: Request, token: str) -> Response:
        valid = token_target(token) is not None
        return render(
            request,
            "list_unsubscribe.html",
            "list_unsub_title",
            valid=valid,
            done=False,
            status=200 if valid else 404,
        )

    @router.post("/odjava/{token}")
    def list_unsubscribe_post(request: Request, token: str) -> Response:
        target = token_target(token)
        if target is None:
            return render(
                request,
                "list_unsubscribe.html",
                "list_unsub_title",
                valid=False,
                done=False,
                status=404,
            )
        subscriber_id, channel = target
        with portal.engine.begin() as conn:
            changed = store.add_key_only_channel(conn, subscriber_id, channel)
            audit(
                None,
                request,
                "list_unsubscribe",
                actor="list-unsubscribe",
                subscriber_id=subscriber_id,
                detail={"channel": channel, "changed": changed},
                conn=conn,
            )
        log.info("portal.list_unsubscribe", subscriber_id=subscriber_id, channel=channel)
        return render(request, "list_unsubscribe.html", "list_unsub_title", valid=True, done=True)

    # ---- first sign-in: link the certificate to a VOPI party ----

    def link_by_tax_number(request: Request, citizen: Citizen) -> str | None:
        """Linked party, 'ambiguous', or None (no query, no tax number, no match)."""
        query = portal.settings.source.party_by_tax_number_query.strip()
        tax_number = citizen.certificate.tax_number
        if portal.vopi is None or not query or not tax_number:
            return None
        with portal.vopi.connect() as vconn:
            parties = sorted(
                {str(r.party_id) for r in vconn.execute(sa.text(query), {"tax_number": tax_number})}
            )
            vconn.rollback()
        if len(parties) != 1:
            audit(
                citizen,
                request,
                "link.tax_number",
                outcome="refused",
                detail={"matches": len(parties)},
            )
            return "ambiguous" if parties else None
        with portal.engine.begin() as conn:
            store.link_identity(conn, citizen.identity_id, parties[0], "tax_number")
            citizen.party_id = parties[0]
            audit(citizen, request, "link.tax_number", conn=conn)
        return parties[0]

    def link_page(
        request: Request,
        citizen: Citizen,
        *,
        sent: bool = False,
        message: str | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        return render(
            request,
            "link.html",
            "link_title",
            citizen=citizen,
            sent=sent,
            message=message,
            status=status,
        )

    @router.get("/povezava")
    def link_get(request: Request) -> Response:
        citizen = portal.citizen(request)
        if citizen.party_id is not None:
            return see_other("/obvestila")
        result = link_by_tax_number(request, citizen)
        if result == "ambiguous":
            t = Translator(portal.language(request))
            return link_page(request, citizen, message=t("link_ambiguous"))
        if result is not None:
            return see_other("/obvestila?ok=linked")
        return link_page(request, citizen)

    @router.post("/povezava")
    def link_post(request: Request, csrf: FormField = "", contact: FormField = "") -> Response:
        citizen = portal.citizen(request)
        if citizen.party_id is not None:
            return see_other("/obvestila")
        check_csrf(citizen, csrf)
        limit_codes(request, citizen)
        text = contact.strip()
        email = phone = None
        try:
            if "@" in text:
                email = normalise_email(text)
            else:
                phone = normalise_phone(text)
        except InvalidInput:
            pass
        with portal.engine.connect() as conn:
            found = store.parties_by_contact(conn, email, phone) if email or phone else []
        parties = sorted({party for party, _ in found})
        # The same answer whether or not the contact is known: the page never tells a
        # stranger who is registered.
        if len(parties) != 1:
            audit(
                citizen,
                request,
                "link.code",
                outcome="refused",
                detail={"matches": len(parties)},
            )
            return link_page(request, citizen, sent=True)
        # The code goes to the contact as the municipality registered it, never to what was
        # typed: only the person who owns that inbox or phone can link.
        problem = send_code(
            request,
            citizen,
            Purpose.LINK,
            parties[0],
            send_to=found[0][1],
            lang=portal.language(request),
            payload={},
        )
        if problem:
            return link_page(request, citizen, message=problem[1], status=problem[0])
        return link_page(request, citizen, sent=True)

    @router.post("/povezava/koda")
    def link_code(request: Request, csrf: FormField = "", code: FormField = "") -> Response:
        citizen = portal.citizen(request)
        if citizen.party_id is not None:
            return see_other("/obvestila")
        check_csrf(citizen, csrf)
        limit_codes(request, citizen)
        result = changes.confirm(portal, portal.peer(request), citizen, Purpose.LINK, entered=code)
        if result.outcome is changes.Outcome.CONFIRMED:
            return see_other("/obvestila?ok=linked")
        t = Translator(portal.language(request))
        message = {
            changes.Outcome.WRONG: t("code_wrong", left=result.attempts_left),
            changes.Outcome.EXPIRED: t("code_expired"),
            changes.Outcome.LOCKED: t("code_locked"),
        }.get(result.outcome, t("confirm_none"))
        return link_page(request, citizen, sent=True, message=message, status=400)

    # ---- sign-out ----

    @router.post("/izpis")
    def sign_out(request: Request, csrf: FormField = "") -> Response:
        citizen = portal.citizen(request)
        check_csrf(citizen, csrf)
        portal.end_session(request)
        audit(citizen, request, "sign_out")
        t = Translator(portal.language(request))
        return render(
            request, "message.html", "signed_out_title", paragraphs=[t("signed_out_text")]
        )

    return router
