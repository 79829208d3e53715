"""Subscribers (clerk): search by party id, e-mail or phone (exact, normalised; searched by
POST so no address lands in a URL or a log), register in person or from a written
application, a printable confirmation, change, end, erasure (admin, confirmed by typing the
party id), and CSV import with a dry run. Every change goes through admin/subscriber_ops.py,
as `obvo subscribers …` does."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from vopi_obvo.admin import audit, subscriber_ops, subscriber_store
from vopi_obvo.admin import subscriber_input as inp
from vopi_obvo.admin.subscriber_input import SubscriberData
from vopi_obvo.console import notices
from vopi_obvo.console.context import Console, Signed
from vopi_obvo.console.notices import Notice
from vopi_obvo.console.roles import Role
from vopi_obvo.console.views import PageError, Views, errors_of
from vopi_obvo.errors import InvalidInput, ObvoError
from vopi_obvo.messages.templates import LJUBLJANA
from vopi_obvo.problems import Problem, render
from vopi_obvo.queries import q
from vopi_obvo.rules import DEFAULT_LANGUAGE
from vopi_obvo.subscribers import SubscriberRecord

FormField = Annotated[str, Form()]
MAX_CSV = 2_000_000
# The form's fields as problems name them: the labels the clerk sees next to the inputs.
PARTY = Problem("field.party")
EMAIL = Problem("field.email")
PHONE = Problem("field.phone")
EVENTS = Problem("field.events")
LANGUAGE = Problem("field.language")
ORIGIN = Problem("field.origin")
REFERENCE = Problem("field.reference")
CONSENT_AT = Problem("field.consent_at")
CASES = Problem("field.cases")


def console_change_hint(_party: str) -> Problem:
    return Problem("hint.change_console")


FIELDS = subscriber_ops.Fields(
    party=PARTY,
    cases=CASES,
    change_hint=console_change_hint,
    retry_hint=Problem("hint.retry_console"),
    hints=inp.NO_HINTS,  # the form's fields are in sight
)


class SubscriberForm(BaseModel):
    """The search, registration and change forms (the change form has no party field)."""

    csrf: str = ""
    party: str = ""
    email: str = ""
    phone: str = ""
    events: str = ""
    language: str = ""
    origin: str = ""
    reference: str = ""
    consent_at: str = ""
    cases: str = ""

    def values(self) -> dict[str, str]:
        return self.model_dump(exclude={"csrf"})


SubscriberFields = Annotated[SubscriberForm, Form()]


def local_input(moment: dt.datetime | None) -> str:
    """A time as a datetime-local field shows it (Ljubljana, to the minute)."""
    return "" if moment is None else moment.astimezone(LJUBLJANA).strftime("%Y-%m-%dT%H:%M")


def form_of(record: SubscriberRecord) -> dict[str, str]:
    return {
        "party": record.party_id,
        "email": record.email or "",
        "phone": record.phone or "",
        "events": record.events,
        "language": record.language,
        "origin": record.origin or "",
        "reference": record.reference or "",
        "consent_at": local_input(record.consent_at),
        "cases": " ".join(record.cases),
    }


def data_of(form: dict[str, str], now: dt.datetime) -> SubscriberData:
    """A registration form as the CLI's `subscribers add` takes it: the same validators."""
    origin = inp.origin(form["origin"] or inp.Origin.IN_PERSON.value, ORIGIN)
    return SubscriberData(
        party_id=inp.party(form["party"], PARTY),
        email=inp.email(form["email"], EMAIL) if form["email"].strip() else None,
        phone=inp.phone(form["phone"], PHONE) if form["phone"].strip() else None,
        events=inp.events(form["events"] or "all", EVENTS),
        language=inp.language(form["language"] or DEFAULT_LANGUAGE, LANGUAGE),
        origin=origin,
        reference=inp.reference(form["reference"], REFERENCE)
        if form["reference"].strip()
        else None,
        consent_at=inp.consent(form["consent_at"], CONSENT_AT, now)
        if form["consent_at"].strip()
        else now,
        cases=inp.cases(inp.split_cases(form["cases"]), CASES),
    )


def changes_of(form: dict[str, str], current: SubscriberRecord, now: dt.datetime) -> dict[str, Any]:
    """What the change form asks for, validated (the party stays)."""
    data = data_of({**form, "party": current.party_id}, now)
    changes = {k: v for k, v in data.__dict__.items() if k not in ("party_id", "consent_at")}
    if form["consent_at"].strip() and form["consent_at"].strip() != local_input(current.consent_at):
        changes["consent_at"] = data.consent_at
    return changes


def make_router(console: Console, views: Views) -> APIRouter:  # noqa: PLR0915 - one closure per page
    router = APIRouter(include_in_schema=False)

    def record_of(conn: sa.Connection, subscriber_id: int) -> SubscriberRecord:
        found = subscriber_store.find(conn, subscriber_id=subscriber_id)
        if not found:
            raise HTTPException(404)
        return found[0]

    @router.get("/narocniki")
    def search_page(request: Request) -> Response:
        signed = console.signed(request, Role.CLERK)
        return views.render(
            request, "subscribers.html", "subscribers_title", signed=signed, active="/narocniki",
            given={"party": "", "email": "", "phone": ""}, results=None, errors=[],
        )  # fmt: skip

    @router.post("/narocniki/iskanje")
    def search(request: Request, form: SubscriberFields) -> Response:
        signed = console.signed(request, Role.CLERK)
        console.check_form(request, signed, form.csrf)
        given = {
            "party": form.party.strip(),
            "email": form.email.strip(),
            "phone": form.phone.strip(),
        }
        errors: list[PageError] = []
        results: list[SubscriberRecord] = []
        if not any(given.values()):
            errors.append(views.translator(request)("search_nothing_given"))
        try:
            with console.engine.connect() as conn:
                if given["party"]:
                    party_id = inp.party(given["party"], PARTY)
                    results += subscriber_store.find(conn, party_id=party_id)
                if given["email"] or given["phone"]:
                    ids = conn.execute(
                        q("console_subscriber_ids_by_contact"),
                        {
                            "email": inp.email(given["email"], EMAIL) if given["email"] else None,
                            "phone": inp.phone(given["phone"], PHONE) if given["phone"] else None,
                        },
                    ).scalars()
                    for sid in ids:
                        if all(r.id != sid for r in results):
                            results += subscriber_store.find(conn, subscriber_id=int(sid))
        except InvalidInput as exc:
            errors.extend(errors_of(exc))
        return views.render(
            request, "subscribers.html", "subscribers_title", signed=signed, active="/narocniki",
            given=given, results=None if errors else results, errors=errors,
            status=400 if errors else 200,
        )  # fmt: skip

    # ---- register ----

    def register_page(
        request: Request,
        signed: Signed,
        form: dict[str, str],
        errors: Sequence[PageError],
        status: int = 200,
    ) -> Response:
        return views.render(
            request, "subscriber_new.html", "subscriber_new_title", signed=signed,
            active="/narocniki", form=form, errors=errors, origins=list(inp.Origin), status=status,
        )  # fmt: skip

    @router.get("/narocniki/nov")
    def new_page(request: Request) -> Response:
        signed = console.signed(request, Role.CLERK)
        form = SubscriberForm(
            events="all",
            language=DEFAULT_LANGUAGE,
            origin=inp.Origin.IN_PERSON.value,
            consent_at=local_input(console.clock()),
        ).values()
        return register_page(request, signed, form, [])

    @router.post("/narocniki/nov")
    def register(request: Request, fields: SubscriberFields) -> Response:
        signed = console.signed(request, Role.CLERK)
        console.check_form(request, signed, fields.csrf)
        form = fields.values()
        try:
            data = data_of(form, console.clock())
            new_id = subscriber_ops.register(
                console.settings, console.engine, data, signed.actor, FIELDS
            )
        except ObvoError as exc:
            return register_page(request, signed, form, errors_of(exc), status=400)
        return views.done(request, signed, f"/narocniki/{new_id}/potrdilo", "subscriber_registered")

    # ---- one subscriber ----

    def subscriber_page(
        request: Request,
        signed: Signed,
        subscriber_id: int,
        *,
        form: dict[str, str] | None = None,
        errors: Sequence[PageError] | None = None,
        status: int = 200,
    ) -> Response:
        with console.engine.connect() as conn:
            record = record_of(conn, subscriber_id)
            counts = subscriber_store.notification_counts(conn, record.id)
            history = audit.entries(conn, target=f"subscriber:{record.id}", limit=50)
        return views.render(
            request, "subscriber.html", "subscriber_title", title_values={"party": record.party_id},
            signed=signed, active="/narocniki", s=record, counts=counts, history=history,
            form=form or form_of(record), errors=errors or [],
            origins=list(inp.Origin), status=status,
        )  # fmt: skip

    @router.get("/narocniki/{subscriber_id}")
    def subscriber(request: Request, subscriber_id: int) -> Response:
        return subscriber_page(request, console.signed(request, Role.CLERK), subscriber_id)

    @router.post("/narocniki/{subscriber_id}/sprememba")
    def change(request: Request, subscriber_id: int, fields: SubscriberFields) -> Response:
        signed = console.signed(request, Role.CLERK)
        console.check_form(request, signed, fields.csrf)
        with console.engine.connect() as conn:
            current = record_of(conn, subscriber_id)
        form = {**fields.values(), "party": current.party_id}
        try:
            changed = subscriber_ops.update(
                console.settings,
                console.engine,
                current,
                changes_of(form, current, console.clock()),
                actor=signed.actor,
                fields=FIELDS,
            )
        except ObvoError as exc:
            return subscriber_page(
                request, signed, subscriber_id, form=form, errors=errors_of(exc), status=400
            )
        said = "subscriber_changed" if changed else "subscriber_unchanged"
        return views.done(request, signed, f"/narocniki/{subscriber_id}", said)

    @router.post("/narocniki/{subscriber_id}/konec")
    def end(request: Request, subscriber_id: int, csrf: FormField) -> Response:
        signed = console.signed(request, Role.CLERK)
        console.check_form(request, signed, csrf)
        with console.engine.begin() as conn:
            record = record_of(conn, subscriber_id)
            cancelled = subscriber_ops.end(conn, record, signed.actor)
        return views.done(
            request, signed, "/narocniki", "subscriber_ended",
            party=record.party_id, cancelled=cancelled,
        )  # fmt: skip

    @router.post("/narocniki/{subscriber_id}/izbris")
    def erase(
        request: Request, subscriber_id: int, csrf: FormField, confirm: FormField = ""
    ) -> Response:
        signed = console.signed(request, Role.ADMIN)
        console.check_form(request, signed, csrf)
        with console.engine.connect() as conn:
            record = record_of(conn, subscriber_id)
        t = views.translator(request)
        if confirm.strip() != record.party_id:
            return subscriber_page(
                request, signed, subscriber_id, errors=[t("erase_not_confirmed")], status=400
            )
        erasure = subscriber_ops.erase(console.engine, record, signed.actor)
        return views.done(
            request, signed, "/narocniki", "subscriber_erased", party=record.party_id,
            erased=erasure.erased, cancelled=erasure.cancelled, portal=erasure.portal_identities,
        )  # fmt: skip

    @router.get("/narocniki/{subscriber_id}/potrdilo")
    def confirmation(request: Request, subscriber_id: int) -> Response:
        signed = console.signed(request, Role.CLERK)
        with console.engine.connect() as conn:
            record = record_of(conn, subscriber_id)
        portal = console.settings.portal  # how the citizen changes it alone, when it runs
        return views.render(
            request, "confirmation.html", "confirmation_title", signed=signed, active="/narocniki",
            s=record, portal_url=portal.public_url, sipass=portal.sipass.enabled,
            printed=console.clock(),
        )  # fmt: skip

    # ---- CSV import ----

    def import_page(
        request: Request,
        signed: Signed,
        *,
        report: subscriber_ops.ImportReport | None = None,
        dry_run: bool = True,
        errors: Sequence[PageError] | None = None,
        status: int = 200,
    ) -> Response:
        t = views.translator(request)
        # After an import: its summary and the lines it refused (redirected here, so a reload
        # does not import again).
        done = notices.take(console, request, signed) if report is None else None
        return views.render(
            request, "subscriber_import.html", "import_title", signed=signed, active="/narocniki",
            report=report, dry_run=dry_run, errors=errors or [], origins=list(inp.Origin),
            columns=inp.COLUMNS, status=status,
            notice=done.text(t) if done is not None else None,
            lines=[(p.line, p.problem) for p in report.problems] if report is not None
            else done.rows if done is not None else None,
        )  # fmt: skip

    @router.get("/narocniki/uvoz/")
    def import_form(request: Request) -> Response:
        return import_page(request, console.signed(request, Role.CLERK))

    @router.post("/narocniki/uvoz/")
    def import_csv(
        request: Request,
        csrf: FormField,
        origin: FormField = inp.Origin.IN_PERSON.value,
        mode: FormField = "dry_run",
        file: Annotated[UploadFile | None, File()] = None,
    ) -> Response:
        signed = console.signed(request, Role.CLERK)
        console.check_form(request, signed, csrf)
        dry_run = mode != "import"
        raw = file.file.read(MAX_CSV + 1) if file is not None else b""
        name = (file.filename if file is not None else "") or "upload.csv"
        t = views.translator(request)
        if not raw:
            no_file = [t("import_no_file")]
            return import_page(request, signed, errors=no_file, dry_run=dry_run, status=400)
        if len(raw) > MAX_CSV:
            too_large = t("import_too_large", name=name, megabytes=MAX_CSV // 1_000_000)
            return import_page(request, signed, errors=[too_large], dry_run=dry_run, status=400)
        try:
            report = subscriber_ops.import_csv(
                console.settings,
                console.engine,
                inp.decode_csv(raw, name),
                name,
                signed.actor,
                default_origin=inp.origin(origin, ORIGIN),
                dry_run=dry_run,
                file_name=name,
                change_hint=Problem("hint.import_change_console"),
            )
        except ObvoError as exc:
            return import_page(request, signed, errors=errors_of(exc), dry_run=dry_run, status=400)
        if dry_run:  # nothing written: the report is the answer
            return import_page(request, signed, report=report, dry_run=dry_run)
        counts = {"imported": len(report.imported), "invalid": len(report.problems)}
        lang = console.language(request)
        refused = [(p.line, render(p.problem, lang)) for p in report.problems]
        said = Notice([("import_summary", counts)], refused)
        return views.done_with(request, signed, "/narocniki/uvoz/", said)

    return router
