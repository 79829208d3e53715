"""The console's test world: the portal's test CA issues employee certificates (admin,
clerk, viewer, unknown, expired, and a forged one from a CA that only copies the real CA's
name), staff granted in OBVO's tables, and the console on uvicorn on loopback."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
import pytest
import sqlalchemy as sa

from tests.integration.test_pipeline import apply_rules
from tests.portal_support import CERT_HEADER, NOW, AppServer, Pki, make_pki, nginx_header
from vopi_obvo import db
from vopi_obvo.config import Settings
from vopi_obvo.console import staff
from vopi_obvo.console.app import create_app
from vopi_obvo.console.context import Console
from vopi_obvo.console.roles import Role
from vopi_obvo.console.settings import console_config

SESSION_SECRET = "c" * 40


def console_overrides(pki: Pki, **extra: Any) -> dict[str, Any]:
    """make_settings keyword arguments for a console with the test CA."""
    values: dict[str, Any] = {
        "console__ca_files": [str(pki.ca_file)],
        "console__session_secret": SESSION_SECRET,
        "console__trusted_proxies": ["127.0.0.1"],
        "console__access_contact": "Služba za informatiko, int. 555",
        "console__organisation": "Mestna občina Koper",
    }
    values.update(extra)
    return values


@dataclass(frozen=True)
class StaffCertificates:
    admin: str
    clerk: str
    viewer: str
    unknown: str  # valid, from the right CA, never granted
    expired: str  # granted, but the certificate's dates are over
    forged: str  # the admin's name and serial, signed by an impostor CA of the same name


def staff_certificates(pki: Pki) -> StaffCertificates:
    return StaffCertificates(
        admin=pki.ca.issue(serial="ZAP-0001", common_name="Ana Admin"),
        clerk=pki.ca.issue(serial="ZAP-0002", common_name="Cene Referent"),
        viewer=pki.ca.issue(serial="ZAP-0003", common_name="Vida Pregled"),
        unknown=pki.ca.issue(serial="ZAP-0099", common_name="Nik Neznan"),
        expired=pki.ca.issue(
            serial="ZAP-0004",
            common_name="Pavla Potekla",
            not_before=NOW - dt.timedelta(days=400),
            not_after=NOW - dt.timedelta(days=1),
        ),
        forged=pki.impostor.issue(serial="ZAP-0001", common_name="Ana Admin"),
    )


def grant_staff(settings: Settings, certs: StaffCertificates) -> None:
    """The admin, the clerk and the viewer are granted; so was the expired certificate."""
    issuers = console_config(settings).issuers
    long_ago = NOW - dt.timedelta(days=200)
    engine = db.obvo_engine(settings.database.url, settings.database.schema)
    with engine.begin() as conn:
        for pem, name, role in (
            (certs.admin, "Ana Admin", Role.ADMIN),
            (certs.clerk, "Cene Referent", Role.CLERK),
            (certs.viewer, "Vida Pregled", Role.VIEWER),
        ):
            staff.grant(conn, issuers.identify(pem, NOW), name, role, "setup")
        staff.grant(
            conn, issuers.identify(certs.expired, long_ago), "Pavla Potekla", Role.ADMIN, "setup"
        )
    engine.dispose()


class ConsoleServer(AppServer):
    """The real console app on uvicorn."""

    def __init__(self, settings: Settings) -> None:
        self.console = Console(settings, console_config(settings))
        super().__init__(create_app(self.console))

    def stop(self) -> None:
        super().stop()
        self.console.close()


@contextmanager
def running_console(settings: Settings) -> Iterator[ConsoleServer]:
    server = ConsoleServer(settings)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def csrf(page: httpx.Response) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


class StaffBrowser:
    """A client presenting one employee certificate through the trusted proxy, with cookies."""

    opened: ClassVar[list[httpx.Client]] = []

    def __init__(self, server: ConsoleServer, pem: str, *, source: str = "127.0.0.1") -> None:
        self.http = server.client(source=source, headers={CERT_HEADER: nginx_header(pem)})
        StaffBrowser.opened.append(self.http)

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def post(
        self,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        token_from: str = "/",  # noqa: S107 - a page, not a password
        files: dict[str, Any] | None = None,
    ) -> httpx.Response:
        page = self.get(token_from)
        return self.http.post(path, data={"csrf": csrf(page), **(data or {})}, files=files)

    def follow(self, reply: httpx.Response, notice: str) -> httpx.Response:
        """A change's answer: 303 to the page to look at next, which says `notice` once; a
        reload of that page neither says it again nor repeats the change."""
        assert reply.status_code == 303, reply.text[:500]
        page = self.get(reply.headers["location"])
        assert page.status_code == 200, page.text[:500]
        assert notice in page.text, page.text
        assert notice not in self.get(reply.headers["location"]).text
        return page


# ---- fixtures of the console's test modules ----


@pytest.fixture
def pki(tmp_path: Any) -> Pki:
    return make_pki(tmp_path)


@pytest.fixture
def certs(pki: Pki) -> StaffCertificates:
    return staff_certificates(pki)


@pytest.fixture
def console_settings(
    make_settings: Callable[..., Settings], pki: Pki, certs: StaffCertificates
) -> Settings:
    settings = make_settings(**console_overrides(pki))
    apply_rules(settings)
    grant_staff(settings, certs)
    return settings


@pytest.fixture
def console(console_settings: Settings) -> Iterator[ConsoleServer]:
    with running_console(console_settings) as server:
        yield server


@pytest.fixture(autouse=True)
def close_staff_browsers() -> Iterator[None]:
    yield
    while StaffBrowser.opened:
        StaffBrowser.opened.pop().close()


def audit_rows(settings: Settings, action_prefix: str = "") -> list[dict[str, Any]]:
    engine = db.obvo_engine(settings.database.url, settings.database.schema)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT actor, action, target, detail FROM audit_log"
                " WHERE action LIKE :prefix ORDER BY id"
            ),
            {"prefix": f"{action_prefix}%"},
        ).all()
    engine.dispose()
    return [dict(r._mapping) for r in rows]
