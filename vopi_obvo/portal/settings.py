"""The `[portal]` section, checked as a whole when the portal starts (pure, besides reading the
CA, CRL and SAML files): the keys it shares with `[console]` as web/settings.py checks them,
then its own; every problem is named by its key, and the portal refuses to start on any."""

from __future__ import annotations

import re
from dataclasses import dataclass

from vopi_obvo.config import Settings
from vopi_obvo.errors import ConfigError
from vopi_obvo.portal import tokens
from vopi_obvo.portal.sipass import ServiceProvider, check_files
from vopi_obvo.web.settings import WebAppConfig, raise_problems, web_app_config

_OID = re.compile(r"[0-2](\.[0-9]+)+")


@dataclass(frozen=True, kw_only=True)
class PortalConfig(WebAppConfig):
    public_url: str
    api_clients: dict[str, str]  # token digest → client name
    sipass: ServiceProvider | None = None  # SI-PASS sign-in, when [portal.sipass] enabled


def portal_config(settings: Settings) -> PortalConfig:
    p = settings.portal
    problems: list[str] = []
    shared = web_app_config(
        "portal",
        p,
        problems,
        example_url="https://obvestila.koper.si",
        ca_required=None
        if p.sipass.enabled
        else "PEM files of the CAs whose certificates may sign in (or enable [portal.sipass])",
    )
    if p.tax_number_oid and not _OID.fullmatch(p.tax_number_oid):
        problems.append(f"[portal] tax_number_oid {p.tax_number_oid!r} is not an OID (2.5.4.5)")
    sipass = _sipass(settings, problems)
    clients, token_problems = tokens.parse_entries(p.api_tokens)
    problems.extend(token_problems)
    if p.sms_status_secret and len(p.sms_status_secret) < 16:
        problems.append("[portal] sms_status_secret must have at least 16 characters")
    if not p.code_ttl > 0:
        problems.append("[portal] code_ttl must be greater than 0")
    for name, number in (
        ("code_max_attempts", p.code_max_attempts),
        ("codes_per_hour", p.codes_per_hour),
        ("history_days", p.history_days),
    ):
        if number < 1:
            problems.append(f"[portal] {name} must be at least 1")
    raise_problems("portal", problems)
    return PortalConfig(
        **shared.common(),
        public_url=p.public_url.rstrip("/"),
        api_clients=clients,
        sipass=sipass,
    )


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
