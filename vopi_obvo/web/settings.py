"""What the `[portal]` and `[console]` sections share, checked the same way for both (pure,
besides reading the CA and CRL files and making the CRL cache directory): the listener, the
public address, the trusted proxies and the certificate header, the CAs and their CRLs (files,
and URLs a `CrlFetcher` keeps fresh), the session. Every problem is named by its key; each
app adds its own keys and refuses to start on any problem."""

from __future__ import annotations

import dataclasses
import os
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vopi_obvo.config import WebAppSettings
from vopi_obvo.errors import ConfigError
from vopi_obvo.web.certificates import TrustedIssuers, load_ca_files
from vopi_obvo.web.proxy import Network, is_trusted, parse_listen, parse_networks
from vopi_obvo.web.revocation import CrlFetcher, RevocationLists

MIN_SECRET_LENGTH = 32
MIN_CRL_REFRESH = 60.0
_HEADER_NAME = re.compile(r"[A-Za-z0-9-]+")


@dataclass(frozen=True, kw_only=True)
class WebAppConfig:
    """The checked common part of a web app's section (PortalConfig, ConsoleConfig extend it)."""

    host: str
    port: int
    https: bool
    trusted_proxies: tuple[Network, ...]
    cert_header: str
    issuers: TrustedIssuers
    crl_fetcher: CrlFetcher | None = None  # the section's crl_urls, started with the app

    def is_trusted_proxy(self, address: str | None) -> bool:
        return is_trusted(address, self.trusted_proxies)

    def common(self) -> dict[str, Any]:
        """These fields by name, to build an app's config from them (not a deep copy, as
        dataclasses.asdict would make of the issuers and the fetcher)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(WebAppConfig)}


def section_issuers(
    section: str, s: WebAppSettings, problems: list[str], *, ca_required: str | None
) -> tuple[TrustedIssuers, CrlFetcher | None]:
    """The CAs of `ca_files` with the revocation lists of `crl_files` and `crl_urls` (the
    fetched copies in `crl_cache_dir`), and the fetcher that keeps those fresh. `ca_required`
    is the problem to name when no CA file is given (None: the section may have none)."""
    if not s.ca_files and ca_required is not None:
        problems.append(f"[{section}] ca_files is required: {ca_required}")
    issuers = TrustedIssuers([], section)
    fetcher: CrlFetcher | None = None
    try:
        fetcher = _crl_fetcher(section, s, problems)
        revocation = None
        if s.crl_files or fetcher:
            revocation = RevocationLists(
                s.crl_files, s.crl_max_age, fetcher.paths if fetcher else (), section=section
            )
        if fetcher:
            fetcher.lists = revocation
        issuers = TrustedIssuers(load_ca_files(s.ca_files, section), section, revocation)
    except ConfigError as exc:
        problems.append(str(exc))
    if s.crl_max_age < 0:
        problems.append(f"[{section}] crl_max_age must not be negative")
    return issuers, fetcher


def _crl_fetcher(section: str, s: WebAppSettings, problems: list[str]) -> CrlFetcher | None:
    if not s.crl_urls:
        return None
    for url in s.crl_urls:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            problems.append(f"[{section}] crl_urls: {url!r} is not an http:// or https:// URL")
    if s.crl_refresh < MIN_CRL_REFRESH:
        problems.append(f"[{section}] crl_refresh must be at least {MIN_CRL_REFRESH:g} seconds")
    try:
        Path(s.crl_cache_dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        problems.append(f"[{section}] crl_cache_dir {s.crl_cache_dir}: {exc.strerror}")
    if not os.access(s.crl_cache_dir, os.W_OK):
        problems.append(f"[{section}] crl_cache_dir {s.crl_cache_dir} is not writable")
    return CrlFetcher(s.crl_urls, s.crl_cache_dir, s.crl_refresh)


def web_app_config(
    section: str,
    s: WebAppSettings,
    problems: list[str],
    *,
    example_url: str,
    ca_required: str | None,
) -> WebAppConfig:
    """The common keys of `[section]` checked, each problem appended to `problems`; the
    caller raises once it has checked its own keys too (`raise_problems`)."""
    host, port = parse_listen(type(s)().listen)
    try:
        host, port = parse_listen(s.listen)
    except ValueError as exc:
        problems.append(f"[{section}] listen {exc}")
    url = urllib.parse.urlsplit(s.public_url)
    if s.public_url and (url.scheme not in ("http", "https") or not url.netloc or url.query):
        problems.append(
            f"[{section}] public_url must be an https:// address such as {example_url},"
            f" not {s.public_url!r}"
        )
    networks = parse_networks(s.trusted_proxies, section, problems)
    if not _HEADER_NAME.fullmatch(s.client_cert_header):
        problems.append(f"[{section}] client_cert_header {s.client_cert_header!r} is not a header")
    issuers, fetcher = section_issuers(section, s, problems, ca_required=ca_required)
    if len(s.session_secret) < MIN_SECRET_LENGTH:
        problems.append(
            f"[{section}] session_secret must have at least {MIN_SECRET_LENGTH} characters "
            f"(set OBVO_{section.upper()}_SESSION_SECRET)"
        )
    if not s.session_ttl > 0:
        problems.append(f"[{section}] session_ttl must be greater than 0")
    if s.rate_limit < 1:
        problems.append(f"[{section}] rate_limit must be at least 1")
    return WebAppConfig(
        host=host,
        port=port,
        https=url.scheme == "https",
        trusted_proxies=networks,
        cert_header=s.client_cert_header.lower(),
        issuers=issuers,
        crl_fetcher=fetcher,
    )


def raise_problems(section: str, problems: list[str]) -> None:
    """ConfigError naming every problem of the section, when there is any."""
    if problems:
        raise ConfigError(
            f"invalid [{section}] configuration:\n" + "\n".join(f"  - {x}" for x in problems)
        )
