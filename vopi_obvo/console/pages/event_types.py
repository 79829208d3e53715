"""Event types: every VOPI event type OBVO has seen or VOPI's catalogue lists (unclassified
first), an edit page per type with a preview rendered on the newest real VOPI event of the
type, and import/export of the rules file. Everyone reads; only an admin changes.

A change is shown as `rules diff` shows it and applied on confirmation exactly as `obvo rules
apply` applies a file (admin/rules_ops.py): the same validation and messages, nothing written
on error, the same `rules.apply` audit row with the staff member as actor.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from vopi_obvo import store
from vopi_obvo.admin import rules_ops
from vopi_obvo.admin.rendering import RenderedPart, render_part, sample_subscriber
from vopi_obvo.admin.rules_toml import diff_rules, dump_rules, has_changes
from vopi_obvo.console.context import STATIC_DIR, Console, PageRefusal, Signed
from vopi_obvo.console.roles import Role
from vopi_obvo.console.texts import Translator
from vopi_obvo.console.views import PageError, Views
from vopi_obvo.errors import RulesError
from vopi_obvo.messages.sms_encoding import SmsInfo, analyse, gsm7_runs
from vopi_obvo.messages.sms_warnings import sms_length_warnings
from vopi_obvo.problems import Problem, render
from vopi_obvo.rules import (
    OPTIONAL_TEMPLATE_PARTS,
    TEMPLATE_PARTS,
    Channel,
    EventKind,
    EventTypeRule,
    RuleSet,
    TemplateSet,
    parse_rules_document,
)
from vopi_obvo.web import sessions
from vopi_obvo.web.language import LANGUAGES

PARTS = (*TEMPLATE_PARTS, *OPTIONAL_TEMPLATE_PARTS)
NOTIFICATION_DAYS = 30  # the list counts notifications of the last 30 days, as the charts


# A VOPI event type code is any text: `/`, `?`, `#`, `%`, spaces, č. In a URL it is one
# percent-encoded segment; the server decodes the path before routing, so the routes take
# the rest of the path (`{code:path}`), and the live counter has its own prefix, so that no
# code can be mistaken for a type's page plus a suffix.
TYPE_PAGE = "/dogodki/vrsta/"
LIVE_COUNTER = "/dogodki/sms/"


def type_path(code: str) -> str:
    return TYPE_PAGE + quote(code, safe="")


def live_path(code: str) -> str:
    return LIVE_COUNTER + quote(code, safe="")


def edit_source(code: str) -> str:
    """The `rules.apply` audit row's `file` for a change made on a type's page."""
    return f"console: event type {code}"


def is_type_edit(source: str) -> bool:
    return source.startswith(edit_source(""))


def unix_newlines(text: str) -> str:
    """A browser sends a textarea's (and every form value's) line breaks as CR LF."""
    return text.replace("\r\n", "\n")


@dataclass(frozen=True)
class RuleForm:
    """An event type as the edit form holds it: texts as typed, not yet validated."""

    code: str
    kind: str
    name: str
    templates: dict[str, dict[str, str]]  # language → part → text ("" when left empty)

    @classmethod
    def of_rule(cls, rule: EventTypeRule) -> RuleForm:
        languages = [*LANGUAGES, *sorted(set(rule.templates) - set(LANGUAGES))]
        templates: dict[str, dict[str, str]] = {}
        for lang in languages:
            tset = rule.templates.get(lang)
            texts = tset.as_dict() if tset is not None else {}
            templates[lang] = {part: texts.get(part, "") for part in PARTS}
        return cls(rule.code, str(rule.kind), rule.name, templates)

    @classmethod
    def of_request(cls, code: str, form: FormData, languages: list[str]) -> RuleForm:
        templates = {
            lang: {part: unix_newlines(str(form.get(f"{lang}.{part}", ""))) for part in PARTS}
            for lang in languages
        }
        name = " ".join(str(form.get("name", "")).split())
        return cls(code, str(form.get("kind", "")).strip(), name, templates)

    def filled(self) -> dict[str, dict[str, str]]:
        """The languages with any text (an empty language is left out: it is kept, as a
        language missing from a rules file is)."""
        return {
            lang: {p: text for p, text in parts.items() if p in TEMPLATE_PARTS or text.strip()}
            for lang, parts in self.templates.items()
            if any(text.strip() for text in parts.values())
        }

    def document(self) -> dict[str, Any]:
        """The rules document `rules apply` would read for this one type."""
        return {
            "event_types": [
                {
                    "code": self.code,
                    "name": self.name,
                    "kind": self.kind,
                    "templates": self.filled(),
                }
            ]
        }

    def draft_rule(self) -> EventTypeRule:
        """The form as a rule to preview, broken or not (a broken part shows its error)."""
        try:
            kind = EventKind(self.kind)
        except ValueError:
            kind = EventKind.INTERNAL
        templates = {
            lang: TemplateSet(
                email_subject=parts["email_subject"],
                email_body=parts["email_body"],
                sms=parts["sms"],
                email_html=parts.get("email_html") or None,
            )
            for lang, parts in self.filled().items()
        }
        return EventTypeRule(self.code, kind, self.name, templates)


@dataclass(frozen=True)
class SmsPreview:
    """One language's SMS: as rendered (the characters forcing UCS-2 marked) and as sent."""

    part: RenderedPart
    runs: list[tuple[str, bool]]
    rendered: SmsInfo
    forcing: str  # the distinct characters that force UCS-2, in order of appearance

    @classmethod
    def of(cls, part: RenderedPart) -> SmsPreview:
        text = part.original or ""
        runs = gsm7_runs(text)
        forcing = "".join(dict.fromkeys(ch for run, forces in runs if forces for ch in run))
        return cls(part, runs, analyse(text), forcing)

    @property
    def changed(self) -> bool:
        """Whether what is sent differs from the rendered text (transliterated, shortened)."""
        return self.part.text != self.part.original


class EventTypePages:
    """What the routes share: the page renderers, the stored rule, VOPI's catalogue."""

    def __init__(self, console: Console, views: Views) -> None:
        self.console = console
        self.views = views
        self.policy = rules_ops.sms_policy(console.settings)

    def catalogue(self) -> tuple[dict[str, str] | None, list[Problem]]:
        if not self.console.settings.source.event_types_query.strip():
            return None, []
        try:
            return rules_ops.vopi_catalogue(self.console.settings, self.console.vopi), []
        except rules_ops.SOURCE_ERRORS as exc:
            detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            return None, [Problem("preview.catalogue_unreadable", {"detail": detail})]

    def list_page(
        self,
        request: Request,
        signed: Signed,
        *,
        errors: Sequence[PageError] | None = None,
        notice: str | None = None,
        status: int = 200,
    ) -> Response:
        known, notes = self.catalogue()
        with self.console.engine.connect() as conn:
            since = self.console.clock() - dt.timedelta(days=NOTIFICATION_DAYS)
            rows = rules_ops.all_event_types(conn, known, since)
        return self.views.render(
            request,
            "event_types.html",
            "event_types_title",
            signed=signed,
            active="/dogodki",
            rows=rows,
            catalogue_configured=known is not None,
            days=NOTIFICATION_DAYS,
            notes=notes,
            errors=errors or [],
            notice=notice,
            status=status,
            type_path=type_path,
        )

    def rule_of(self, code: str) -> tuple[EventTypeRule, bool]:
        """The stored rule, or an unclassified type's empty one (internal until saved); and
        whether it is classified."""
        with self.console.engine.connect() as conn:
            found = store.load_rules(conn).get(code)
        if found is not None:
            return found, True
        known, _ = self.catalogue()
        with self.console.engine.connect() as conn:
            seen = {r.event_type for r in rules_ops.unclassified_rows(conn, known)}
        if code not in seen:
            raise HTTPException(404)
        return EventTypeRule(code, EventKind.INTERNAL, (known or {}).get(code, "")), False

    def previews(
        self, form: RuleForm
    ) -> tuple[dict[str, dict[str, Any]], dict[str, Any], str, list[Problem]]:
        """Each language's e-mail and SMS rendered on the newest VOPI event of the type (or
        sample values); the values, where they came from, and notes on VOPI."""
        draft = form.draft_rule()
        values, source, notes = rules_ops.preview_event(self.console.vopi, draft)
        policy = self.policy
        previews: dict[str, dict[str, Any]] = {}
        for lang in draft.templates:
            shown = sample_subscriber(lang)
            email = render_part(draft, Channel.EMAIL, shown, values, source=source, policy=policy)
            sms = render_part(draft, Channel.SMS, shown, values, source=source, policy=policy)
            previews[lang] = {"email": email, "sms": SmsPreview.of(sms) if sms.ok else sms}
        return previews, values, source, notes

    def edit_page(
        self,
        request: Request,
        signed: Signed,
        form: RuleForm,
        *,
        classified: bool,
        errors: Sequence[PageError] | None = None,
        notice: str | None = None,
        status: int = 200,
    ) -> Response:
        previews, values, source, notes = self.previews(form)
        policy = self.policy
        request.state.page_script = True  # the live SMS counter (the page works without it)
        return self.views.render(
            request,
            "event_type.html",
            "event_type_title",
            title_values={"code": form.code},
            signed=signed,
            active="/dogodki",
            form=form,
            classified=classified,
            kinds=[str(k) for k in EventKind],
            parts=PARTS,
            previews=previews,
            preview_event=values["event_id"] if source != "sample values" else None,
            notes=notes,
            transliterate=policy.transliterate,
            max_segments=policy.max_segments,
            errors=errors or [],
            notice=notice,
            status=status,
            action=type_path(form.code),
            live=live_path(form.code),
            sms_cost=sms_cost,
            sms_rendered=sms_rendered,
            part_error=part_error,
        )

    def confirm_page(
        self,
        request: Request,
        signed: Signed,
        new_rules: RuleSet,
        *,
        source: str,
        back: str,
        notice: str | None = None,
    ) -> Response:
        with self.console.engine.connect() as conn:
            current = store.load_rules(conn)
            fingerprint = store.rules_fingerprint(conn)
        changed = has_changes(current, new_rules)
        return self.views.render(
            request,
            "rules_confirm.html",
            "rules_confirm_title",
            signed=signed,
            active="/dogodki",
            changed=changed,
            diff=[
                line
                for line in (diff_rules(current, new_rules, source) if changed else [])
                # One type's edit keeps every other type: not news on its page.
                if not (is_type_edit(source) and line.startswith("kept      "))
            ],
            warnings=sms_length_warnings(new_rules, self.policy),
            rules_text=dump_rules(new_rules),
            source=source,
            fingerprint=fingerprint,
            back=back,
            notice=notice,
        )


def sms_cost(t: Translator, sms: SmsPreview | RenderedPart) -> str:
    """The line the page shows above the SMS: parts, encoding, units as sent; or the error."""
    if isinstance(sms, RenderedPart):
        return f"SMS: {part_error(t, sms)}"
    info = sms.part.sms
    assert info is not None  # noqa: S101 - an SmsPreview is made of a rendered SMS
    encoding = t(f"encoding_{info.encoding.value}")
    return t("sms_cost", parts=info.segments, encoding=encoding, units=info.units)


def part_error(t: Translator, part: RenderedPart) -> str:
    """Why a part does not render, in the page's language."""
    return render(part.problem, t.language) if part.problem else part.error or ""


def sms_rendered(t: Translator, sms: SmsPreview | RenderedPart) -> str:
    """The line under it: what the template rendered costs before transliteration and
    shortening ("" for a template that does not render)."""
    if isinstance(sms, RenderedPart):
        return ""
    info = sms.rendered
    encoding = t(f"encoding_{info.encoding.value}")
    return t("sms_rendered", parts=info.segments, encoding=encoding, units=info.units)


def make_router(console: Console, views: Views) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    pages = EventTypePages(console, views)

    @router.get("/dogodki")
    def event_types(request: Request) -> Response:
        return pages.list_page(request, console.signed(request, Role.VIEWER))

    @router.get(TYPE_PAGE + "{code:path}")
    def event_type(request: Request, code: str) -> Response:
        signed = console.signed(request, Role.VIEWER)
        rule, classified = pages.rule_of(code)
        return pages.edit_page(request, signed, RuleForm.of_rule(rule), classified=classified)

    @router.post(TYPE_PAGE + "{code:path}")
    async def edit(request: Request, code: str) -> Response:
        # One field per language and part: read as a whole, then handled off the event loop
        # as the other (synchronous) pages are.
        form_data = await request.form()
        return await run_in_threadpool(edit_form, request, code, form_data)

    @router.post(LIVE_COUNTER + "{code:path}")
    async def live_parts(request: Request, code: str) -> Response:
        form_data = await request.form()
        return await run_in_threadpool(sms_parts, request, code, form_data)

    def sms_parts(request: Request, code: str, form_data: FormData) -> Response:
        """The live counter's answer: each language's SMS cost line, as the page shows it.
        A preview changes nothing: the session's CSRF token, but not the change limit."""
        signed = console.signed(request, Role.ADMIN)
        if not sessions.csrf_matches(str(form_data.get("csrf", "")), signed.csrf_token):
            raise PageRefusal(403, "csrf_title", "csrf_text")
        rule, _ = pages.rule_of(code)
        form = RuleForm.of_request(code, form_data, list(RuleForm.of_rule(rule).templates))
        t = Translator(console.language(request))
        previews = pages.previews(form)[0]
        return JSONResponse(
            {
                lang: {"cost": sms_cost(t, p["sms"]), "rendered": sms_rendered(t, p["sms"])}
                for lang, p in previews.items()
            },
            headers={"Cache-Control": "no-store"},
        )

    @router.get("/static/event_type.js")
    def live_script() -> Response:
        return FileResponse(STATIC_DIR / "event_type.js", media_type="text/javascript")

    def edit_form(request: Request, code: str, form_data: FormData) -> Response:
        signed = console.signed(request, Role.ADMIN)
        console.check_form(request, signed, str(form_data.get("csrf", "")))
        rule, classified = pages.rule_of(code)
        form = RuleForm.of_request(code, form_data, list(RuleForm.of_rule(rule).templates))
        if form_data.get("action") != "save":
            return pages.edit_page(request, signed, form, classified=classified)
        try:
            new_rules = parse_rules_document(form.document())
        except RulesError as exc:
            return pages.edit_page(
                request, signed, form, classified=classified, errors=exc.problems, status=400
            )
        return pages.confirm_page(
            request, signed, new_rules, source=edit_source(code), back=type_path(code)
        )

    return router
