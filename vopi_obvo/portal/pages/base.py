"""What every page handler shares: one request context (render, redirect, CSRF, limits,
audit, sending a code) and the "validate, send codes, render" step of the two forms.

Plain HTML forms (no JavaScript), a CSRF token in every form of a signed-in page, and the
Post/Redirect/Get pattern so a reload never submits twice. Handlers are synchronous: FastAPI
runs them in its thread pool, beside the blocking database calls.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import sqlalchemy as sa
from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from vopi_obvo.messages.templates import LJUBLJANA
from vopi_obvo.portal import changes, store
from vopi_obvo.portal.codes import Purpose
from vopi_obvo.portal.context import Citizen, PageRedirect, PageRefusal, Portal
from vopi_obvo.portal.texts import LANGUAGES, TEXTS, Translator
from vopi_obvo.web import sessions

FormField = Annotated[str, Form()]
Plan = TypeVar("Plan")


def local_time(moment: dt.datetime) -> str:
    value = moment.astimezone(LJUBLJANA)
    return f"{value.day}. {value.month}. {value.year} {value:%H:%M}"


@dataclass(frozen=True)
class FormPage:
    """The page a form is shown on again, with its errors, when it does not validate."""

    template: str
    title_key: str
    active: str | None
    checkboxes: tuple[str, ...]
    fields: tuple[str, ...]  # every field of the form, the checkboxes among them

    async def posted(self, request: Request) -> dict[str, str]:
        """The form's fields as POSTed, and its csrf: each "" when absent, the last value
        when repeated (as FastAPI's Form() parameters give them). A handler's dependency."""
        data = await request.form()
        return {
            name: value if isinstance(value := data.get(name, ""), str) else ""
            for name in ("csrf", *self.fields)
        }


@dataclass(frozen=True)
class CodesToSend:
    """What a valid form asks for: codes to send (purpose, address) and where to go next."""

    targets: Sequence[tuple[Purpose, str | None]]
    payload: Mapping[str, Any]
    done: str
    waiting: str = "/potrditev"


class Pages:
    """The request context every page router is built with."""

    def __init__(self, portal: Portal) -> None:
        self.portal = portal

    def render(
        self,
        request: Request,
        template: str,
        title_key: str,
        *,
        citizen: Citizen | None = None,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        lang = self.portal.language(request)
        t = Translator(lang)
        html = self.portal.templates.get_template(template).render(
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

    def message(
        self,
        request: Request,
        title_key: str,
        paragraphs: Sequence[str],
        *,
        citizen: Citizen | None = None,
        status: int = 200,
        home_link: bool = True,
    ) -> HTMLResponse:
        return self.render(
            request,
            "message.html",
            title_key,
            citizen=citizen,
            status=status,
            paragraphs=list(paragraphs),
            home_link=home_link,
        )

    def translator(self, request: Request) -> Translator:
        return Translator(self.portal.language(request))

    @staticmethod
    def see_other(path: str) -> RedirectResponse:
        return RedirectResponse(path, status_code=303)

    def linked(self, request: Request) -> tuple[Citizen, str]:
        """The signed-in citizen and their party; one not linked yet goes to the link page."""
        citizen = self.portal.citizen(request)
        if citizen.party_id is None:
            raise PageRedirect("/povezava")
        return citizen, citizen.party_id

    def posted_form(
        self, request: Request, posted: Mapping[str, str]
    ) -> tuple[Citizen, str, dict[str, str]]:
        """A linked citizen's POSTed form (FormPage.posted) with its CSRF token checked: the
        citizen, their party and the form's fields."""
        citizen, party_id = self.linked(request)
        self.check_csrf(citizen, posted.get("csrf", ""))
        return citizen, party_id, {k: v for k, v in posted.items() if k != "csrf"}

    @staticmethod
    def check_csrf(citizen: Citizen, token: str) -> None:
        if not sessions.csrf_matches(token, citizen.csrf_token):
            raise PageRefusal(403, "csrf_title", "csrf_text")

    def limit_codes(self, request: Request, citizen: Citizen) -> None:
        limiter = self.portal.code_limiter
        if not (
            limiter.allow(f"ip:{self.portal.client_address(request)}")
            and limiter.allow(f"identity:{citizen.identity_id}")
        ):
            raise PageRefusal(429, "too_many_title", "too_many_text")

    def audit(
        self,
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
                peer=self.portal.peer(request),
                detail=detail,
            )

        if conn is not None:
            write(conn)
        else:
            with self.portal.engine.begin() as c:
                write(c)

    def open_codes(self, citizen: Citizen) -> list[store.OpenCode]:
        """Codes waiting for this citizen, other than a link code."""
        with self.portal.engine.connect() as conn:
            return [
                c
                for c in store.open_codes(conn, citizen.identity_id)
                if c.code.purpose is not Purpose.LINK
            ]

    def send_code(
        self,
        request: Request,
        citizen: Citizen,
        purpose: Purpose,
        target: str,
        *,
        send_to: str,
        payload: Mapping[str, Any],
    ) -> tuple[int, str] | None:
        """None when sent; else the status and the message to show."""
        lang = self.portal.language(request)
        t = Translator(lang)
        try:
            changes.issue_code(
                self.portal,
                self.portal.peer(request),
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

    def validate_send_render(
        self,
        request: Request,
        citizen: Citizen,
        page: FormPage,
        raw: Mapping[str, str],
        *,
        plan: Callable[[Mapping[str, str]], tuple[Plan | None, dict[str, str]]],
        apply: Callable[[Plan], CodesToSend],
    ) -> Response:
        """The settings and subscribe forms: validate; on errors show the form again; else
        apply the plan, send the codes it asks for and go on (or show why a code failed)."""
        planned, errors = plan(raw)
        if planned is None:
            form = dict(raw) | {k: raw.get(k) == "on" for k in page.checkboxes}
            return self.render(
                request,
                page.template,
                page.title_key,
                citizen=citizen,
                active=page.active,
                form=form,
                errors=errors,
                status=400,
            )
        codes = apply(planned)
        sent = False
        for purpose, target in codes.targets:
            if target is None:
                continue
            problem = self.send_code(
                request, citizen, purpose, target, send_to=target, payload=codes.payload
            )
            if problem:
                return self.message(
                    request, "error_title", [problem[1]], citizen=citizen, status=problem[0]
                )
            sent = True
        return self.see_other(codes.waiting if sent else codes.done)
