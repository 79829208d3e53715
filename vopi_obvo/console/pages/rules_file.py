"""The rules file on the console (admin): import by upload → diff → confirm → apply, the
confirmation of every change the event-type pages make, and export (the `rules dump` file,
for everyone who may read)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from vopi_obvo import store
from vopi_obvo.admin import rules_ops
from vopi_obvo.console.context import Console
from vopi_obvo.console.pages.event_types import EventTypePages, unix_newlines
from vopi_obvo.console.roles import Role
from vopi_obvo.console.texts import Translator
from vopi_obvo.console.views import Views
from vopi_obvo.errors import RulesError

MAX_RULES_FILE = 1_048_576

FormField = Annotated[str, Form()]


def make_router(console: Console, views: Views) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    pages = EventTypePages(console, views)

    @router.post("/dogodki/uvoz")
    def upload(
        request: Request, csrf: FormField, rules: Annotated[UploadFile | None, File()] = None
    ) -> Response:
        raw = rules.file.read(MAX_RULES_FILE + 1) if rules is not None else b""
        signed = console.signed(request, Role.ADMIN)
        console.check_form(request, signed, csrf)
        t = Translator(console.language(request))
        name = (rules.filename if rules is not None else None) or "upload.toml"
        problem = "rules_file_missing" if not raw.strip() else None
        if len(raw) > MAX_RULES_FILE:
            problem = "rules_file_too_large"
        if problem is not None:
            return pages.list_page(request, signed, errors=[t(problem)], status=400)
        try:
            text = rules_ops.decode_rules_bytes(raw, name)
            new_rules = rules_ops.parse_rules_text(text, name)
        except RulesError as exc:
            return pages.list_page(request, signed, errors=exc.problems, status=400)
        source = f"console: upload {name}"
        return pages.confirm_page(request, signed, new_rules, source=source, back="/dogodki")

    @router.post("/dogodki/potrdi")
    def confirm(
        request: Request,
        *,
        csrf: FormField,
        rules_text: FormField,
        source: FormField,
        fingerprint: FormField,
        back: FormField = "/dogodki",
    ) -> Response:
        signed = console.signed(request, Role.ADMIN)
        console.check_form(request, signed, csrf)
        if not back.startswith("/dogodki"):
            back = "/dogodki"
        # The text the diff was made of, validated again: a form's content is not trusted.
        try:
            new_rules = rules_ops.parse_rules_text(unix_newlines(rules_text), source)
        except RulesError as exc:  # a confirmation form that was altered: nothing is written
            return pages.list_page(request, signed, errors=exc.problems, status=400)
        with console.engine.begin() as conn:
            stale = store.rules_fingerprint(conn) != fingerprint
            if not stale:
                rules_ops.apply_rules(conn, new_rules, actor=signed.actor, source=source)
        if stale:
            t = Translator(console.language(request))
            return pages.confirm_page(
                request, signed, new_rules, source=source, back=back, notice=t("rules_stale")
            )
        return views.done(request, signed, back, "rules_applied")

    @router.get("/dogodki/pravila.toml")
    def export(request: Request) -> Response:
        console.signed(request, Role.VIEWER)
        with console.engine.connect() as conn:
            ruleset = store.load_rules(conn)
        text = rules_ops.dump_text(ruleset, console.settings.database.schema, console.clock())
        return Response(
            text,
            media_type="application/toml; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="obvo-rules.toml"'},
        )

    return router
