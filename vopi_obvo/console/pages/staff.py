"""Staff (admin): who may use the console, in which role; grant from an uploaded certificate,
change a role, revoke. The same rules and audit rows as `obvo console grant|revoke`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from vopi_obvo.console import staff
from vopi_obvo.console.context import Console, Signed
from vopi_obvo.console.roles import Role, parse_role, staff_name
from vopi_obvo.console.texts import Translator
from vopi_obvo.console.views import PageError, Views, errors_of
from vopi_obvo.errors import InvalidInput
from vopi_obvo.problems import Problem
from vopi_obvo.web.certificates import CertificateIdentity, CertificateRefused

MAX_PEM = 16_384

FormField = Annotated[str, Form()]


NAME = Problem("field.staff_name")  # the grant form's fields as problems name them
ROLE = Problem("field.staff_role")


def identify_upload(console: Console, raw: bytes, t: Translator) -> CertificateIdentity | str:
    """The uploaded certificate's staff identity, checked as a sign-in would check it; or
    why it cannot be granted, in the page's language."""
    if not raw.strip():
        return t("staff_certificate_missing")
    if len(raw) > MAX_PEM:
        return t("staff_certificate_too_large")
    if b"PRIVATE KEY" in raw:
        return t("staff_certificate_private_key")
    try:
        return console.config.issuers.identify(raw.decode("ascii", "replace"), console.clock())
    except CertificateRefused as exc:
        return t("staff_certificate_refused", reason=t(f"refusal_{exc.reason.value}"))


def make_router(console: Console, views: Views) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def page(
        request: Request,
        signed: Signed,
        *,
        errors: list[PageError] | None = None,
        status: int = 200,
    ) -> Response:
        with console.engine.connect() as conn:
            members = staff.find(conn)
        return views.render(
            request,
            "staff.html",
            "staff_title",
            signed=signed,
            active="/osebje",
            members=members,
            roles=list(Role),
            errors=errors or [],
            status=status,
        )

    @router.get("/osebje")
    def staff_page(request: Request) -> Response:
        return page(request, console.signed(request, Role.ADMIN))

    @router.post("/osebje/dodeli")
    def grant(
        request: Request,
        csrf: FormField,
        name: FormField = "",
        role: FormField = "",
        certificate: Annotated[UploadFile | None, File()] = None,
    ) -> Response:
        raw = certificate.file.read(MAX_PEM + 1) if certificate is not None else b""
        signed = console.signed(request, Role.ADMIN)
        console.check_form(request, signed, csrf)
        t = Translator(console.language(request))
        identity = identify_upload(console, raw, t)
        if isinstance(identity, str):
            return page(request, signed, errors=[identity], status=400)
        try:
            member_name = staff_name(name, NAME)
            member_role = parse_role(role, ROLE)
        except InvalidInput as exc:
            return page(request, signed, errors=errors_of(exc), status=400)
        with console.engine.begin() as conn:
            staff.grant(conn, identity, member_name, member_role, signed.actor)
        return views.done(request, signed, "/osebje", "staff_granted_notice")

    def member_of(staff_id: int, signed: Signed) -> staff.StaffMember:
        with console.engine.connect() as conn:
            found = staff.find(conn, staff_id=staff_id)
        if not found:
            raise HTTPException(404)
        return found[0]

    @router.post("/osebje/{staff_id}/vloga")
    def change_role(request: Request, staff_id: int, csrf: FormField, role: FormField) -> Response:
        signed = console.signed(request, Role.ADMIN)
        console.check_form(request, signed, csrf)
        member = member_of(staff_id, signed)
        t = Translator(console.language(request))
        if member.id == signed.member.id:
            return page(request, signed, errors=[t("staff_self")], status=400)
        try:
            new_role = parse_role(role, ROLE)
            with console.engine.begin() as conn:
                staff.change_role(conn, member, new_role, signed.actor)
        except InvalidInput as exc:
            return page(request, signed, errors=errors_of(exc), status=400)
        return views.done(request, signed, "/osebje", "staff_role_notice")

    @router.post("/osebje/{staff_id}/odvzem")
    def revoke(request: Request, staff_id: int, csrf: FormField) -> Response:
        signed = console.signed(request, Role.ADMIN)
        console.check_form(request, signed, csrf)
        member = member_of(staff_id, signed)
        t = Translator(console.language(request))
        if member.id == signed.member.id:
            return page(request, signed, errors=[t("staff_self")], status=400)
        try:
            with console.engine.begin() as conn:
                staff.revoke(conn, member.id, signed.actor)
        except InvalidInput as exc:
            return page(request, signed, errors=errors_of(exc), status=400)
        return views.done(request, signed, "/osebje", "staff_revoked_notice")

    return router
