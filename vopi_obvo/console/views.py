"""Rendering the console's pages: the layout's context (language, staff member, menu by role,
the municipality's name and logo), message pages, redirects, local times."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.requests import Request

from vopi_obvo.console import notices
from vopi_obvo.console.context import Console, Signed
from vopi_obvo.console.roles import Role
from vopi_obvo.console.texts import TEXTS, Translator
from vopi_obvo.errors import ObvoError
from vopi_obvo.messages.templates import LJUBLJANA
from vopi_obvo.problems import Problem, render
from vopi_obvo.web.certificates import CertificateIdentity
from vopi_obvo.web.language import LANGUAGES

# The menu: path, text key, the role it needs.
MENU = (
    ("/", "nav_overview", Role.VIEWER),
    ("/obvestila", "nav_outbox", Role.VIEWER),
    ("/narocniki", "nav_subscribers", Role.CLERK),
    ("/dogodki", "nav_event_types", Role.VIEWER),
    ("/revizija", "nav_audit", Role.VIEWER),
    ("/osebje", "nav_staff", Role.ADMIN),
)


def local_time(moment: dt.datetime | None) -> str:
    """A time as staff read it: Europe/Ljubljana, `1. 12. 2026 14:05`."""
    if moment is None:
        return ""
    value = moment.astimezone(LJUBLJANA)
    return f"{value.day}. {value.month}. {value.year} {value:%H:%M}"


def local_date(moment: dt.date) -> str:
    return f"{moment.day}. {moment.month}. {moment.year}"


# An error on a page: a problem, worded in the page's language, or a text already worded.
PageError = Problem | str


def worded(error: PageError, language: str) -> str:
    return render(error, language) if isinstance(error, Problem) else error


def errors_of(exc: ObvoError) -> list[PageError]:
    """What a refused change shows: its problems, or (an error raised with a plain text, not a
    validation problem) its message."""
    return list(exc.problems) or [str(exc)]


class Views:
    def __init__(self, console: Console) -> None:
        self.console = console

    def translator(self, request: Request) -> Translator:
        return Translator(self.console.language(request))

    def worded(self, request: Request, error: PageError) -> str:
        """An error in the request's language (a page's errors are worded by render())."""
        return worded(error, self.console.language(request))

    def render(
        self,
        request: Request,
        template: str,
        title_key: str,
        *,
        signed: Signed | None,
        status: int = 200,
        title_values: dict[str, object] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        lang = self.console.language(request)
        t = Translator(lang)
        config = self.console.config
        notice = context.pop("notice", None)
        if notice is None and signed is not None:  # what the change before this page did
            waiting = notices.take(self.console, request, signed)
            notice = waiting.text(t) if waiting is not None else None

        def say(error: PageError) -> str:
            return worded(error, lang)

        if "errors" in context:
            context["errors"] = [say(e) for e in context["errors"]]
        html = self.console.templates.get_template(template).render(
            t=t,
            lang=lang,
            title=t(title_key, **(title_values or {})),
            signed=signed,
            menu=[
                (path, key)
                for path, key, needed in MENU
                if signed is not None and signed.may(needed)
            ],
            languages=[(code, TEXTS[code]["language_name"]) for code in LANGUAGES],
            organisation=config.organisation,
            has_logo=config.logo is not None,
            local_time=local_time,
            local_date=local_date,
            say=say,
            Role=Role,
            notice=None if notice is None else say(notice),
            active=context.pop("active", None),
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def done(
        self, request: Request, signed: Signed, path: str, key: str, **values: object
    ) -> RedirectResponse:
        """The answer to a form that changed something: 303 to `path`, which says so once."""
        return self.done_with(request, signed, path, notices.notice(key, **values))

    def done_with(
        self, request: Request, signed: Signed, path: str, said: notices.Notice
    ) -> RedirectResponse:
        return notices.after_change(self.console, request, signed, path, said)

    def message(
        self,
        request: Request,
        status: int,
        title_key: str,
        *paragraph_keys: str,
        certificate: CertificateIdentity | None = None,
    ) -> HTMLResponse:
        t = Translator(self.console.language(request))
        contact = self.console.config.access_contact or t("access_contact_default")
        return self.render(
            request,
            "message.html",
            title_key,
            signed=None,
            status=status,
            paragraphs=[t(k, contact=contact) for k in paragraph_keys],
            certificate=certificate,
        )


def see_other(path: str) -> RedirectResponse:
    """A redirect that is not the answer to a change (those are notices.after_change)."""
    return RedirectResponse(path, status_code=303)
