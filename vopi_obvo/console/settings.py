"""The `[console]` section, checked as a whole when the console starts (pure, besides reading
the CA, CRL and logo files): the keys it shares with `[portal]` as web/settings.py checks them,
then its own; every problem is named by its key; the console refuses to start on any."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vopi_obvo.config import Settings
from vopi_obvo.errors import ConfigError
from vopi_obvo.web.certificates import TrustedIssuers
from vopi_obvo.web.settings import (
    WebAppConfig,
    raise_problems,
    section_issuers,
    web_app_config,
)

LOGO_TYPES = {".png": "image/png", ".svg": "image/svg+xml"}
CA_REQUIRED = "PEM files of the CAs of employee certificates"


@dataclass(frozen=True, kw_only=True)
class ConsoleConfig(WebAppConfig):
    organisation: str
    logo: tuple[bytes, str] | None  # the file's bytes and media type
    access_contact: str


def console_issuers(settings: Settings) -> TrustedIssuers:
    """The CAs of `[console] ca_files` with the CRLs of `crl_files` and `crl_urls`, as at
    sign-in (what `obvo console grant` checks against). The distribution points are fetched
    once now; where one cannot be reached, the console's cached copy counts."""
    problems: list[str] = []
    issuers, fetcher = section_issuers(
        "console", settings.console, problems, ca_required=CA_REQUIRED
    )
    if problems:
        raise ConfigError("; ".join(problems))
    if fetcher is not None:
        fetcher.fetch_all()
    return issuers


def console_config(settings: Settings) -> ConsoleConfig:
    c = settings.console
    problems: list[str] = []
    shared = web_app_config(
        "console",
        c,
        problems,
        example_url="https://obvo.intranet.koper.si",
        ca_required=CA_REQUIRED,
    )
    if c.listen.strip() == settings.portal.listen.strip():
        problems.append("[console] listen must not be the portal's listener ([portal] listen)")
    logo = None
    if c.logo_file:
        path = Path(c.logo_file)
        media = LOGO_TYPES.get(path.suffix.lower())
        if media is None:
            problems.append(f"[console] logo_file must be a .png or .svg file, not {path.name!r}")
        else:
            try:
                logo = (path.read_bytes(), media)
            except OSError as exc:
                problems.append(f"[console] logo_file: cannot read {path}: {exc.strerror}")
    raise_problems("console", problems)
    return ConsoleConfig(
        **shared.common(),
        organisation=c.organisation or settings.email.organisation,
        logo=logo,
        access_contact=c.access_contact,
    )
