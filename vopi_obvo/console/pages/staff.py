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
from vopi_obvo.console.views import Views
from vopi_obvo.errors import InvalidInput
from vopi_obvo.web.certificates import CertificateRefused

MAX_PEM = 16_384

FormField = Annotated[str, Form()]


def certificate_text(raw: bytes) -> str:
    if not raw.strip():
        raise InvalidInput("choose the staff member's certificate file (PEM)")
    if len(raw) > MAX_PEM:
        raise InvalidInput("the file is too large for a certificate")
    if b"PRIVATE KEY" in raw:
        raise InvalidInput(
            "the file holds a private key: export only the certificate, never the key"
        )
    return raw.decode("ascii", "replace")


def make_router(console: Console, views: Views) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def page(
        request: Request,
        signed: Signed,
        *,
        errors: list[str] | None = None,
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
        try:
            text = certificate_text(raw)
            try:
                identity = console.config.issuers.identify(text, console.clock())
            except CertificateRefused as exc:
                raise InvalidInput(f"the certificate cannot sign in: {exc.detail}") from None
            member_name = staff_name(name, "name")
            member_role = parse_role(role, "role")
        except InvalidInput as exc:
            return page(request, signed, errors=[str(exc)], status=400)
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
            new_role = parse_role(role, "role")
            with console.engine.begin() as conn:
                staff.change_role(conn, member, new_role, signed.actor)
        except InvalidInput as exc:
            return page(request, signed, errors=[str(exc)], status=400)
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
            return page(request, signed, errors=[str(exc)], status=400)
        return views.done(request, signed, "/osebje", "staff_revoked_notice")

    return router
