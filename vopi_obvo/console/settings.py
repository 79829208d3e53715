"""The `[console]` section, checked as a whole when the console starts (pure, besides reading
the CA and logo files): every problem is named by its key; the console refuses to start on any."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from vopi_obvo.config import Settings
from vopi_obvo.errors import ConfigError
from vopi_obvo.web.certificates import TrustedIssuers, load_ca_files
from vopi_obvo.web.proxy import Network, is_trusted, parse_listen, parse_networks
from vopi_obvo.web.revocation import RevocationLists

MIN_SECRET_LENGTH = 32
_HEADER_NAME = re.compile(r"[A-Za-z0-9-]+")
LOGO_TYPES = {".png": "image/png", ".svg": "image/svg+xml"}


@dataclass(frozen=True)
class ConsoleConfig:
    host: str
    port: int
    https: bool
    trusted_proxies: tuple[Network, ...]
    cert_header: str
    issuers: TrustedIssuers
    organisation: str
    logo: tuple[bytes, str] | None  # the file's bytes and media type
    access_contact: str

    def is_trusted_proxy(self, address: str | None) -> bool:
        return is_trusted(address, self.trusted_proxies)


def console_issuers(settings: Settings) -> TrustedIssuers:
    """The CAs of `[console] ca_files` (also what `obvo console grant` checks against)."""
    if not settings.console.ca_files:
        raise ConfigError(
            "[console] ca_files is required: PEM files of the CAs of employee certificates"
        )
    c = settings.console
    revocation = (
        RevocationLists(c.crl_files, c.crl_max_age, section="console") if c.crl_files else None
    )
    return TrustedIssuers(load_ca_files(c.ca_files, "console"), "console", revocation)


def console_config(settings: Settings) -> ConsoleConfig:
    c = settings.console
    problems: list[str] = []
    host, port = "127.0.0.1", 8081
    try:
        host, port = parse_listen(c.listen)
    except ValueError as exc:
        problems.append(f"[console] listen {exc}")
    if c.listen.strip() == settings.portal.listen.strip():
        problems.append("[console] listen must not be the portal's listener ([portal] listen)")
    url = urllib.parse.urlsplit(c.public_url)
    if c.public_url and (url.scheme not in ("http", "https") or not url.netloc):
        problems.append(f"[console] public_url must be an https:// address, not {c.public_url!r}")
    networks = parse_networks(c.trusted_proxies, "console", problems)
    if not _HEADER_NAME.fullmatch(c.client_cert_header):
        problems.append(f"[console] client_cert_header {c.client_cert_header!r} is not a header")
    issuers = TrustedIssuers([], "console")
    try:
        issuers = console_issuers(settings)
    except ConfigError as exc:
        problems.append(str(exc))
    if len(c.session_secret) < MIN_SECRET_LENGTH:
        problems.append(
            f"[console] session_secret must have at least {MIN_SECRET_LENGTH} characters "
            "(set OBVO_CONSOLE_SESSION_SECRET)"
        )
    if c.crl_max_age < 0:
        problems.append("[console] crl_max_age must not be negative")
    if not c.session_ttl > 0:
        problems.append("[console] session_ttl must be greater than 0")
    if c.rate_limit < 1:
        problems.append("[console] rate_limit must be at least 1")
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
    if problems:
        raise ConfigError(
            "invalid [console] configuration:\n" + "\n".join(f"  - {x}" for x in problems)
        )
    return ConsoleConfig(
        host=host,
        port=port,
        https=url.scheme == "https",
        trusted_proxies=networks,
        cert_header=c.client_cert_header.lower(),
        issuers=issuers,
        organisation=c.organisation or settings.email.organisation,
        logo=logo,
        access_contact=c.access_contact,
    )
