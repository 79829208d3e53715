"""The `[portal]` section, checked as a whole when the portal starts (pure, besides reading the
CA files): every problem is named by its key, and the portal refuses to start on any."""

from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from vopi_obvo.config import PortalSettings, Settings
from vopi_obvo.errors import ConfigError
from vopi_obvo.portal import tokens
from vopi_obvo.portal.sipass import ServiceProvider, check_files
from vopi_obvo.web.certificates import TrustedIssuers, load_ca_files
from vopi_obvo.web.proxy import Network, is_trusted, parse_listen, parse_networks
from vopi_obvo.web.revocation import CrlFetcher, RevocationLists

MIN_SECRET_LENGTH = 32
_HEADER_NAME = re.compile(r"[A-Za-z0-9-]+")
_OID = re.compile(r"[0-2](\.[0-9]+)+")


@dataclass(frozen=True)
class PortalConfig:
    host: str
    port: int
    public_url: str
    https: bool
    trusted_proxies: tuple[Network, ...]
    cert_header: str
    issuers: TrustedIssuers
    api_clients: dict[str, str]  # token digest → client name
    sipass: ServiceProvider | None = None  # SI-PASS sign-in, when [portal.sipass] enabled
    crl_fetcher: CrlFetcher | None = None  # [portal] crl_urls, started with the portal

    def is_trusted_proxy(self, address: str | None) -> bool:
        return is_trusted(address, self.trusted_proxies)


def portal_config(settings: Settings) -> PortalConfig:
    p = settings.portal
    problems: list[str] = []
    host, port = "127.0.0.1", 8080
    try:
        host, port = parse_listen(p.listen)
    except ValueError as exc:
        problems.append(f"[portal] listen {exc}")
    url = urllib.parse.urlsplit(p.public_url)
    if p.public_url and (url.scheme not in ("http", "https") or not url.netloc or url.query):
        problems.append(
            f"[portal] public_url must be an https:// address such as https://obvestila.koper.si,"
            f" not {p.public_url!r}"
        )
    networks = parse_networks(p.trusted_proxies, "portal", problems)
    if not _HEADER_NAME.fullmatch(p.client_cert_header):
        problems.append(f"[portal] client_cert_header {p.client_cert_header!r} is not a header")
    if p.tax_number_oid and not _OID.fullmatch(p.tax_number_oid):
        problems.append(f"[portal] tax_number_oid {p.tax_number_oid!r} is not an OID (2.5.4.5)")
    if not p.ca_files and not p.sipass.enabled:
        problems.append(
            "[portal] ca_files is required: PEM files of the CAs whose certificates may sign in"
            " (or enable [portal.sipass])"
        )
    issuers = TrustedIssuers([], "portal")
    fetcher: CrlFetcher | None = None
    try:
        fetcher = _crl_fetcher(p, problems)
        revocation = None
        if p.crl_files or fetcher:
            revocation = RevocationLists(
                p.crl_files, p.crl_max_age, fetcher.paths if fetcher else ()
            )
        if fetcher:
            fetcher.lists = revocation
        issuers = TrustedIssuers(load_ca_files(p.ca_files, "portal"), "portal", revocation)
    except ConfigError as exc:
        problems.append(str(exc))
    if p.crl_max_age < 0:
        problems.append("[portal] crl_max_age must not be negative")
    sipass = _sipass(settings, problems)
    clients, token_problems = tokens.parse_entries(p.api_tokens)
    problems.extend(token_problems)
    if len(p.session_secret) < MIN_SECRET_LENGTH:
        problems.append(
            f"[portal] session_secret must have at least {MIN_SECRET_LENGTH} characters "
            "(set OBVO_PORTAL_SESSION_SECRET)"
        )
    if p.sms_status_secret and len(p.sms_status_secret) < 16:
        problems.append("[portal] sms_status_secret must have at least 16 characters")
    for name, value in (
        ("session_ttl", p.session_ttl),
        ("code_ttl", p.code_ttl),
    ):
        if not value > 0:
            problems.append(f"[portal] {name} must be greater than 0")
    for name, number in (
        ("code_max_attempts", p.code_max_attempts),
        ("codes_per_hour", p.codes_per_hour),
        ("rate_limit", p.rate_limit),
        ("history_days", p.history_days),
    ):
        if number < 1:
            problems.append(f"[portal] {name} must be at least 1")
    if problems:
        raise ConfigError(
            "invalid [portal] configuration:\n" + "\n".join(f"  - {x}" for x in problems)
        )
    return PortalConfig(
        host=host,
        port=port,
        public_url=p.public_url.rstrip("/"),
        https=url.scheme == "https",
        trusted_proxies=networks,
        cert_header=p.client_cert_header.lower(),
        issuers=issuers,
        api_clients=clients,
        sipass=sipass,
        crl_fetcher=fetcher,
    )


def _crl_fetcher(p: PortalSettings, problems: list[str]) -> CrlFetcher | None:
    if not p.crl_urls:
        return None
    for url in p.crl_urls:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            problems.append(f"[portal] crl_urls: {url!r} is not an http:// or https:// URL")
    if p.crl_refresh < 60:
        problems.append("[portal] crl_refresh must be at least 60 seconds")
    try:
        Path(p.crl_cache_dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        problems.append(f"[portal] crl_cache_dir {p.crl_cache_dir}: {exc.strerror}")
    if not os.access(p.crl_cache_dir, os.W_OK):
        problems.append(f"[portal] crl_cache_dir {p.crl_cache_dir} is not writable")
    return CrlFetcher(p.crl_urls, p.crl_cache_dir, p.crl_refresh)


def _sipass(settings: Settings, problems: list[str]) -> ServiceProvider | None:
    s = settings.portal.sipass
    if not s.enabled:
        return None
    found = check_files(s)
    if not settings.portal.public_url:
        found.append("[portal.sipass] needs [portal] public_url (SI-PASS posts back to it)")
    if not settings.source.party_by_tax_number_query.strip():
        found.append(
            "[portal.sipass] needs [source] party_by_tax_number_query: SI-PASS identifies a"
            " citizen by tax number"
        )
    if found:
        problems.extend(found)
        return None
    try:
        return ServiceProvider(s, settings.portal.public_url)
    except ConfigError as exc:
        problems.append(str(exc))
        return None
