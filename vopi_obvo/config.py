"""Settings: a TOML file, a `.env` file and the environment, turned into typed, checked values.

Every scalar key can be overridden by an environment variable `OBVO_<SECTION>_<KEY>`
(`OBVO_DATABASE_URL`, `OBVO_SMS_TOKEN`, `OBVO_EMAIL_PORT`, ...); the environment wins over
`.env`, which wins over the file. Unknown sections or keys are errors, so a typo never
silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import typing
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from vopi_obvo.errors import ConfigError
from vopi_obvo.messages.quiet_hours import parse_window
from vopi_obvo.source.engines import kind_of_url

DEFAULT_CONFIG_PATH = Path("config/obvo.toml")
ENV_PREFIX = "OBVO_"


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = ""
    schema: str = "obvo"


@dataclass(frozen=True)
class SourceSettings:
    url: str = ""
    events_query: str = ""
    parties_query: str = ""
    start: str = "latest"
    poll_interval: float = 1.0
    batch_size: int = 500
    # Without the privilege to see other sessions' transactions, a hole is given up after this.
    hole_max_age: float = 3600.0
    # Seconds a hole is kept even when no VOPI transaction older than it runs. Unset: automatic,
    # 3600 s when the sequence behind event_id caches ids (CACHE > 1), else none. Set it when
    # the application hands out ids in blocks (Hibernate's pooled optimizer).
    hole_min_age: float | None = None
    statement_timeout: float = 10.0
    # Optional (portal): the VOPI party of a tax number, parameter :tax_number; one column
    # party_id. Empty = the portal links a certificate to a party by a one-time code instead.
    party_by_tax_number_query: str = ""
    # Optional: VOPI's own catalogue of event types, columns code and name, so that
    # `obvo rules unclassified` lists the types no rule classifies even before they occur.
    event_types_query: str = ""
    # VOPI's wall clock: the zone of timestamps it stores without one (MariaDB/MySQL DATETIME,
    # PostgreSQL timestamp without time zone).
    timezone: str = "Europe/Ljubljana"

    @property
    def start_event_id(self) -> int | None:
        """The configured start id, or None for "latest"/"earliest"."""
        return int(self.start) if self.start not in ("latest", "earliest") else None


@dataclass(frozen=True)
class EmailSettings:
    host: str = "127.0.0.1"
    port: int = 25
    security: Literal["none", "starttls", "tls"] = "none"
    username: str = ""
    password: str = ""
    sender: str = "Občina <obvestila@localhost>"
    reply_to: str = ""
    timeout: float = 30.0
    # A PEM file of CA certificates to trust for the SMTP server (e.g. the municipality's own
    # CA) instead of the system's; certificates are verified either way.
    ca_file: str = ""
    # Message-ID domain; empty = the sender address's domain.
    message_id_domain: str = ""
    # The HTML part: the municipality's name and logo in the layout (config/email_layout.html
    # or html_layout).
    organisation: str = ""
    logo_url: str = ""
    html_layout: str = ""
    # List-Unsubscribe for non-key events: "{public_url}" ([portal] public_url) and "{token}"
    # are filled in; empty = "{public_url}/odjava/{token}" when a portal URL is configured.
    unsubscribe_url: str = ""
    # HMAC key of unsubscribe tokens (vopi_obvo/unsubscribe.py), shared with the portal.
    unsubscribe_secret: str = ""
    # At most this many messages start per second (0 = no limit of OBVO's own), divided
    # between running obvo processes (delivery/pacing.py).
    max_per_second: float = 0.0


@dataclass(frozen=True)
class SmsGatewaySettings:
    """How to reach one SMS gateway: [sms] for the first, [sms_fallback] for a second one
    (vopi_obvo/senders/, docs/sms-gateways.md)."""

    url: str = ""  # http(s)://… (backend http) or smpp://host:port (backend smpp)
    token: str = ""  # http: Authorization: Bearer <token>, or {token} in headers
    timeout: float = 10.0
    # http: a real provider's request (method, "Name: value" headers, a JSON body template,
    # the reply's path to the message id); empty = OBVO's own contract.
    method: Literal["POST", "PUT"] = "POST"
    headers: tuple[str, ...] = ()
    body: str = ""
    id_path: str = "id"
    # smpp: the SMSC account; receipts are asked for with registered_delivery.
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    enquire_link_interval: float = 30.0
    registered_delivery: bool = True
    # At most this many messages per second to this gateway (0 = no limit of OBVO's own),
    # divided between running obvo processes; a 429 / ESME_RTHROTTLED slows it further.
    max_per_second: float = 0.0


@dataclass(frozen=True)
class SmsFallbackSettings(SmsGatewaySettings):
    """A second gateway, used after repeated temporary failures of the first."""

    backend: Literal["none", "http", "smpp"] = "none"


@dataclass(frozen=True)
class SmsSettings(SmsGatewaySettings):
    backend: Literal["http", "log", "smpp"] = "log"
    sender: str = "OBCINA"
    # With [sms_fallback]: switch after this many temporary failures in a row, and try the
    # first gateway again (one message) after this many seconds.
    failover_after: int = 3
    failover_probe_after: float = 300.0
    # Message text policy (vopi_obvo/sms_text.py): č → c etc. to stay in GSM-7; at most this
    # many parts, a longer text shortened at a word boundary with an ellipsis.
    transliterate: bool = False
    max_segments: int = 3
    # Europe/Ljubljana wall-clock window such as "21:00-07:00" in which SMS wait (empty =
    # none); key events follow quiet_hours_key: "same", "none" or their own window.
    quiet_hours: str = ""
    quiet_hours_key: str = "same"


@dataclass(frozen=True)
class DeliverySettings:
    retry_initial_delay: float = 30.0
    retry_max_delay: float = 3600.0
    max_attempts: int = 10
    batch_size: int = 100
    # How a dead worker is recognised: "lock" = its PostgreSQL session (an advisory lock) is
    # gone, seen within one dispatch; "heartbeat" = its heartbeat is older than
    # stale_worker_after (needed behind a pooler in transaction mode, e.g. PgBouncer).
    liveness: Literal["lock", "heartbeat"] = "lock"
    # A worker whose heartbeat is older than this is dead ("heartbeat" liveness); its claimed
    # messages are taken back. Rows of workers silent for 10x as long are forgotten.
    stale_worker_after: float = 60.0
    # A claim older than this is taken back even from a live worker (a hung process); a
    # worker never starts sending a claim older than half of it.
    claim_timeout: float = 300.0
    # Seconds in which several events of one application become one message per subscriber
    # and channel (0 = off); every message then waits this long for company.
    coalesce_window: float = 0.0
    # Storm guard: more new notifications than this per minute for one event type are held.
    storm_threshold: int = 1000
    # More than this many per subscriber and channel in an hour are held (0 = no limit).
    max_per_subscriber_per_hour: int = 0
    # On SIGTERM/SIGINT a message being sent may finish for this many seconds; then it is
    # given up and the process's claims go back to pending for another process or restart.
    shutdown_grace: float = 20.0
    # Messages in flight at once per process, across channels (each in a sending thread,
    # delivery/send_pool.py); 1 sends one at a time.
    concurrency: int = 8


@dataclass(frozen=True)
class LoggingSettings:
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


@dataclass(frozen=True)
class SipassSettings:
    """`[portal.sipass]`: sign-in through SI-PASS, the state's SAML 2.0 identity service
    (vopi_obvo/portal/sipass.py); `obvo portal sipass-metadata` prints what to register."""

    enabled: bool = False
    # The service's published IdP metadata, saved as a file (its signing certificate, URLs).
    idp_metadata: str = ""
    # This portal's SAML entity id; empty = "{public_url}/sipass/metadata".
    entity_id: str = ""
    # The portal's SAML key (PEM, readable by the portal's user only) and its certificate.
    key_file: str = ""
    cert_file: str = ""
    # Attribute names in the service's assertions: the tax number (the identity) and the
    # parts of the name shown on the pages (joined with spaces).
    tax_number_attribute: str = "TaxNumber"
    name_attributes: tuple[str, ...] = ("FirstName", "LastName")
    # Levels of assurance (AuthnContextClassRef), lowest first, and the lowest accepted.
    levels: tuple[str, ...] = (
        "http://eidas.europa.eu/LoA/low",
        "http://eidas.europa.eu/LoA/substantial",
        "http://eidas.europa.eu/LoA/high",
    )
    required_level: str = "http://eidas.europa.eu/LoA/substantial"
    # Seconds of clock difference to the service accepted in IssueInstant / NotOnOrAfter.
    clock_skew: float = 60.0


@dataclass(frozen=True)
class WebAppSettings:
    """What `[portal]` and `[console]` share: the listener behind a TLS proxy that verifies
    client certificates, the CAs and their CRLs, the session (vopi_obvo/web/settings.py)."""

    listen: str = "127.0.0.1:8080"
    # The address people use (https://…): links, and https → HSTS, Secure __Host- cookies.
    public_url: str = ""
    # Only these peers (addresses or networks) may pass the client certificate header.
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    client_cert_header: str = "X-SSL-Client-Cert"
    # PEM files of the issuing CAs whose certificates sign people in.
    ca_files: tuple[str, ...] = ()
    # The CAs' CRLs (PEM or DER files, kept fresh by a timer); empty = no revocation check.
    crl_files: tuple[str, ...] = ()
    # Seconds after a CRL's thisUpdate when it no longer counts (0 = until its nextUpdate).
    crl_max_age: float = 0.0
    # CRL distribution points the process fetches itself every crl_refresh seconds, cached
    # in crl_cache_dir (the last good copy survives a restart and an unreachable server).
    crl_urls: tuple[str, ...] = ()
    crl_refresh: float = 3600.0
    crl_cache_dir: str = "/var/cache/obvo/crl"
    session_secret: str = ""  # OBVO_<SECTION>_SESSION_SECRET: keys the session hashes
    session_ttl: float = 1800.0
    # Sign-ins (and the section's own changes) per client address or person per minute.
    rate_limit: int = 20


@dataclass(frozen=True)
class PortalSettings(WebAppSettings):
    """`obvo portal`: the citizens' self-service pages and API (vopi_obvo/portal/); checked
    in full when the portal starts (vopi_obvo/portal/settings.py). The session secret keys
    code hashes too (OBVO_PORTAL_SESSION_SECRET)."""

    listen: str = "127.0.0.1:8080"
    # OID of the subject attribute that carries the tax number (for party_by_tax_number_query).
    tax_number_oid: str = ""
    # "client:sha256:<hex>" per API client; `obvo portal token CLIENT` makes one.
    api_tokens: tuple[str, ...] = ()
    sms_status_secret: str = ""  # OBVO_PORTAL_SMS_STATUS_SECRET
    code_ttl: float = 900.0
    code_max_attempts: int = 5
    codes_per_hour: int = 5
    history_days: int = 90
    sipass: SipassSettings = field(default_factory=SipassSettings)


@dataclass(frozen=True)
class ConsoleSettings(WebAppSettings):
    """`obvo console`: the staff's intranet console (vopi_obvo/console/); checked in full when
    the console starts (vopi_obvo/console/settings.py). Employee certificates (SIGOV-CA,
    SIGEN-CA) sign staff in; rate_limit counts sign-ins and changes per staff member."""

    listen: str = "127.0.0.1:8081"
    # Its own cache: the console may run as another user than the portal.
    crl_cache_dir: str = "/var/cache/obvo/console-crl"
    # Shown on every page and on the refusal page of an unknown certificate.
    organisation: str = ""  # empty = [email] organisation
    logo_file: str = ""  # a PNG or SVG file served as the logo; empty = none
    access_contact: str = ""  # whom to ask for access, e.g. "Služba za informatiko, int. 123"


@dataclass(frozen=True)
class HealthSettings:
    """When `obvo status` exits non-zero (vopi_obvo/health.py); 0 turns a check off where
    noted."""

    # The oldest VOPI event not yet read is older than this (0 = no lag check).
    max_lag_seconds: float = 300.0
    # More notifications than this failed within failed_window seconds.
    max_failed: int = 10
    failed_window: float = 3600.0
    # No obvo daemon has written its heartbeat for this long (0 = no check: `obvo once` from
    # cron leaves no daemon behind).
    max_heartbeat_age: float = 120.0


@dataclass(frozen=True)
class MetricsSettings:
    # host:port of the Prometheus endpoint of `obvo run` (empty = none), e.g. 127.0.0.1:9464.
    listen: str = ""


@dataclass(frozen=True)
class RetentionSettings:
    # Rendered texts and recipient addresses of notifications older than this many days are
    # removed (daily in the daemon, or `obvo purge`); anonymised counts stay.
    message_days: int = 90


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    source: SourceSettings = field(default_factory=SourceSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    sms: SmsSettings = field(default_factory=SmsSettings)
    sms_fallback: SmsFallbackSettings = field(default_factory=SmsFallbackSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    portal: PortalSettings = field(default_factory=PortalSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    path: Path | None = None

    @property
    def source_url(self) -> str:
        """VOPI's URL; empty in the file means VOPI lives in OBVO's own database."""
        return self.source.url or self.database.url


_SECTIONS: dict[str, type[Any]] = {
    "database": DatabaseSettings,
    "source": SourceSettings,
    "email": EmailSettings,
    "sms": SmsSettings,
    "sms_fallback": SmsFallbackSettings,
    "delivery": DeliverySettings,
    "logging": LoggingSettings,
    "portal": PortalSettings,
    "console": ConsoleSettings,
    "health": HealthSettings,
    "metrics": MetricsSettings,
    "retention": RetentionSettings,
}


def load_settings(
    path: Path | None = None, environ: typing.Mapping[str, str] | None = None
) -> Settings:
    """Read the config file (if it exists), `.env` beside it and in the working directory, and
    the environment; raise ConfigError naming every problem."""
    env = dict(environ if environ is not None else os.environ)
    config_path = path or Path(env.get("OBVO_CONFIG", str(DEFAULT_CONFIG_PATH)))
    raw: dict[str, Any] = {}
    if config_path.exists():
        try:
            raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_path}: not valid TOML: {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"{config_path}: cannot be read: {exc.strerror}") from exc
    elif path is not None:
        raise ConfigError(f"{config_path}: no such configuration file")
    merged_env = _dotenv_layers(config_path) | env
    return settings_from_mapping(raw, merged_env, config_path if config_path.exists() else None)


def _dotenv_layers(config_path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for candidate in (config_path.parent / ".env", Path.cwd() / ".env"):
        if candidate.is_file():
            values |= {k: v for k, v in dotenv_values(candidate).items() if v is not None}
    return values


def settings_from_mapping(
    raw: typing.Mapping[str, Any], env: typing.Mapping[str, str], path: Path | None = None
) -> Settings:
    """Build Settings from parsed TOML plus environment overrides (pure; used by tests)."""
    problems: list[str] = []
    sections: dict[str, Any] = {}
    for name in raw:
        if name not in _SECTIONS:
            problems.append(f"unknown section [{name}] (known: {', '.join(_SECTIONS)})")
    for name, cls in _SECTIONS.items():
        table = raw.get(name, {})
        if not isinstance(table, dict):
            problems.append(f"[{name}] must be a table")
            table = {}
        sections[name] = _build_section(name, cls, table, env, problems)
    if problems:
        raise ConfigError(_format_problems(path, problems))
    settings = Settings(**sections, path=path)
    _validate(settings, problems)
    if problems:
        raise ConfigError(_format_problems(path, problems))
    return settings


def _format_problems(path: Path | None, problems: list[str]) -> str:
    where = str(path) if path else "configuration"
    return f"{where}: invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems)


def _build_section(
    section: str,
    cls: type[Any],
    table: dict[str, Any],
    env: typing.Mapping[str, str],
    problems: list[str],
) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in table:
        if key not in known:
            problems.append(f"[{section}] unknown key '{key}' (known: {', '.join(sorted(known))})")
    prefix = f"{ENV_PREFIX}{section}_".upper().replace(".", "_")
    # OBVO_SMS_FALLBACK_URL belongs to [sms_fallback], not to an unknown key of [sms].
    nested = tuple(f"{ENV_PREFIX}{o}_".upper() for o in _SECTIONS if o.startswith(f"{section}_"))
    # A sub-table ([portal.sipass]) is a section of its own, with its own variables.
    tables = {f.name for f in dataclasses.fields(cls) if dataclasses.is_dataclass(hints[f.name])}
    nested += tuple(f"{prefix}{name}_".upper() for name in tables)
    for name in env:
        if (
            name.startswith(prefix)
            and not name.startswith(nested)
            and name[len(prefix) :].lower() not in known
        ):
            problems.append(
                f"unknown environment variable {name} (a typo? known keys of "
                f"[{section}]: {', '.join(sorted(known))})"
            )
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in tables:
            sub = table.get(f.name, {})
            if not isinstance(sub, dict):
                problems.append(f"[{section}.{f.name}] must be a table")
                sub = {}
            values[f.name] = _build_section(
                f"{section}.{f.name}", hints[f.name], sub, env, problems
            )
            continue
        env_name = f"{ENV_PREFIX}{section}_{f.name}".upper().replace(".", "_")
        if env_name in env:
            value: Any = env[env_name]
            origin = f"environment variable {env_name}"
            from_env = True
        elif f.name in table:
            value = table[f.name]
            origin = f"[{section}] {f.name}"
            from_env = False
        else:
            continue
        try:
            values[f.name] = _coerce(value, hints[f.name], from_env=from_env)
        except ValueError as exc:
            problems.append(f"{origin}: {exc}")
    return cls(**values)


def _coerce(value: Any, hint: Any, *, from_env: bool) -> Any:
    optional = [a for a in typing.get_args(hint) if a is not type(None)]
    if type(None) in typing.get_args(hint) and len(optional) == 1:  # unset = the default
        return _coerce(value, optional[0], from_env=from_env)
    if typing.get_origin(hint) is tuple:  # a TOML list of strings; comma-separated in env
        if from_env and isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"must be a list of strings, not {value!r}")
        return tuple(value)
    if typing.get_origin(hint) is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(map(repr, allowed))}, not {value!r}")
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        if from_env and str(value).lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return str(value).lower() in ("1", "true", "yes", "on")
        raise ValueError(f"must be true or false, not {value!r}")
    if hint is int:
        if isinstance(value, bool) or not (isinstance(value, int) or from_env):
            raise ValueError(f"must be a whole number, not {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ValueError(f"must be a whole number, not {value!r}") from None
    if hint is float:
        if isinstance(value, bool) or not (isinstance(value, int | float) or from_env):
            raise ValueError(f"must be a number, not {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"must be a number, not {value!r}") from None
    if hint is str:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # `start = 12345` is as natural as `start = "12345"`
        if not isinstance(value, str):
            raise ValueError(f"must be a string, not {value!r}")
        return value
    raise ValueError(f"unsupported setting type {hint!r}")  # pragma: no cover


def _validate(s: Settings, problems: list[str]) -> None:
    if not s.database.url:
        problems.append("[database] url is required (or set OBVO_DATABASE_URL)")
    elif not _is_postgres_url(s.database.url):
        problems.append("[database] url must start with postgresql:// or postgresql+psycopg://")
    problems.extend(_source_engine_problems(s.source))
    if not s.database.schema.isidentifier() or s.database.schema.lower() != s.database.schema:
        problems.append("[database] schema must be a lower-case SQL identifier")
    if not s.source.events_query.strip():
        problems.append("[source] events_query is required")
    if not s.source.parties_query.strip():
        problems.append("[source] parties_query is required")
    elif ":case_ids" not in s.source.parties_query:
        problems.append("[source] parties_query must use the parameter :case_ids (… IN :case_ids)")
    if s.source.start not in ("latest", "earliest") and not s.source.start.isdigit():
        problems.append(
            f"[source] start must be 'latest', 'earliest' or an event id, not {s.source.start!r}"
        )
    _positive(problems, "[source] poll_interval", s.source.poll_interval)
    _positive(problems, "[source] hole_max_age", s.source.hole_max_age)
    _positive(problems, "[source] statement_timeout", s.source.statement_timeout)
    if not 1 <= s.source.batch_size <= 100_000:
        problems.append("[source] batch_size must be between 1 and 100000")
    if not 1 <= s.email.port <= 65535:
        problems.append("[email] port must be between 1 and 65535")
    if "@" not in parseaddr(s.email.sender)[1]:
        problems.append(f"[email] sender must be an e-mail address, not {s.email.sender!r}")
    if s.email.reply_to and "@" not in parseaddr(s.email.reply_to)[1]:
        problems.append(f"[email] reply_to must be an e-mail address, not {s.email.reply_to!r}")
    _positive(problems, "[email] timeout", s.email.timeout)
    _validate_email_extras(s.email, problems)
    if s.sms.backend == "http" and not s.sms.url.startswith(("http://", "https://")):
        problems.append("[sms] url must be an http:// or https:// URL when backend = 'http'")
    _positive(problems, "[sms] timeout", s.sms.timeout)
    _validate_gateway("sms", s.sms.backend, s.sms, problems)
    _validate_gateway("sms_fallback", s.sms_fallback.backend, s.sms_fallback, problems)
    if s.sms_fallback.backend != "none" and s.sms.backend == "log":
        problems.append("[sms_fallback] needs a real first gateway ([sms] backend http or smpp)")
    if s.sms.failover_after < 1:
        problems.append("[sms] failover_after must be at least 1")
    _positive(problems, "[sms] failover_probe_after", s.sms.failover_probe_after)
    _positive(problems, "[delivery] retry_initial_delay", s.delivery.retry_initial_delay)
    if s.delivery.retry_max_delay < s.delivery.retry_initial_delay:
        problems.append("[delivery] retry_max_delay must not be less than retry_initial_delay")
    if s.delivery.max_attempts < 1:
        problems.append("[delivery] max_attempts must be at least 1")
    if s.delivery.batch_size < 1:
        problems.append("[delivery] batch_size must be at least 1")
    _positive(problems, "[delivery] stale_worker_after", s.delivery.stale_worker_after)
    _positive(problems, "[delivery] claim_timeout", s.delivery.claim_timeout)
    _validate_message_policy(s.sms, s.delivery, problems)
    _validate_operations(s, problems)


# An alphanumeric sender id (GSM 03.40: at most 11 characters, shown as-is on the handset) or
# a phone number of up to 15 digits (E.164).
_ALPHANUMERIC_SENDER = re.compile(r"[A-Za-z0-9 .&_-]{1,11}")
_NUMERIC_SENDER = re.compile(r"\+?[0-9]{1,15}")
# Sending threads per process: beyond this, a second process helps more than more threads.
MAX_CONCURRENCY = 64
# A concatenated SMS carries its part count in one octet.
MAX_SMS_SEGMENTS = 255


def _validate_message_policy(
    sms: SmsSettings, delivery: DeliverySettings, problems: list[str]
) -> None:
    sender = sms.sender
    if not (
        _NUMERIC_SENDER.fullmatch(sender)
        or (_ALPHANUMERIC_SENDER.fullmatch(sender) and any(c.isalpha() for c in sender))
    ):
        problems.append(
            "[sms] sender must be an alphanumeric id of at most 11 characters (A-Z, a-z, 0-9, "
            f"space . & _ -; no č, š, ž) or a phone number of up to 15 digits, not {sender!r}"
        )
    if not 1 <= sms.max_segments <= MAX_SMS_SEGMENTS:
        problems.append(f"[sms] max_segments must be between 1 and {MAX_SMS_SEGMENTS}")
    for key, value in (("quiet_hours", sms.quiet_hours), ("quiet_hours_key", sms.quiet_hours_key)):
        if key == "quiet_hours_key" and value.strip().lower() == "same":
            continue
        try:
            parse_window(value)
        except ValueError as exc:
            hint = ' (or "same", the default, or "none")' if key == "quiet_hours_key" else ""
            problems.append(f"[sms] {key}: {exc}{hint}")
    if delivery.coalesce_window < 0:
        problems.append("[delivery] coalesce_window must be 0 (off) or a number of seconds")
    if delivery.storm_threshold < 1:
        problems.append("[delivery] storm_threshold must be at least 1")
    if delivery.max_per_subscriber_per_hour < 0:
        problems.append("[delivery] max_per_subscriber_per_hour must be 0 (no limit) or more")


def _validate_gateway(
    section: str, backend: str, g: SmsGatewaySettings, problems: list[str]
) -> None:
    """The keys of one SMS gateway, for its backend ([sms] url/timeout are checked above)."""
    from vopi_obvo.senders import http_request  # noqa: PLC0415 - Jinja only when checking

    if section != "sms" and backend == "http":
        if not g.url.startswith(("http://", "https://")):
            problems.append(f"[{section}] url must be an http:// or https:// URL")
        _positive(problems, f"[{section}] timeout", g.timeout)
    if backend == "http":
        checks: dict[str, typing.Callable[[], object]] = {
            "headers": lambda: http_request.parse_headers(g.headers, g.token),
            "id_path": lambda: http_request.check_id_path(g.id_path),
            "body": lambda: g.body and http_request.render_body(g.body, http_request.SAMPLE_VALUES),
        }
        for key, check in checks.items():
            try:
                check()
            except http_request.RequestTemplateError as exc:
                problems.append(f"[{section}] {key}: {exc}")
    if backend == "smpp":
        host, _, port = g.url.removeprefix("smpp://").partition(":")
        if not g.url.startswith("smpp://") or not host or not port.isdigit():
            problems.append(f"[{section}] url must be smpp://host:port when backend = 'smpp'")
        if not g.system_id:
            problems.append(f"[{section}] system_id is required when backend = 'smpp'")
        _positive(problems, f"[{section}] enquire_link_interval", g.enquire_link_interval)
        _positive(problems, f"[{section}] timeout", g.timeout)


def _validate_email_extras(e: EmailSettings, problems: list[str]) -> None:
    if e.ca_file and not Path(e.ca_file).is_file():
        problems.append(f"[email] ca_file: no such file {e.ca_file!r}")
    if e.html_layout and not Path(e.html_layout).is_file():
        problems.append(f"[email] html_layout: no such file {e.html_layout!r}")
    domain = e.message_id_domain
    labels = domain.split(".")
    if domain and not all(x.isascii() and x.replace("-", "").isalnum() for x in labels):
        problems.append(f"[email] message_id_domain must be a domain name, not {domain!r}")
    if e.logo_url and not e.logo_url.startswith(("https://", "http://")):
        problems.append("[email] logo_url must be an https:// (or http://) URL")
    if e.unsubscribe_url:
        if "{token}" not in e.unsubscribe_url:
            problems.append("[email] unsubscribe_url must contain {token}")
        if not e.unsubscribe_url.startswith(("https://", "http://", "{public_url}")):
            problems.append("[email] unsubscribe_url must be an https:// URL (or {public_url}/…)")
        if not e.unsubscribe_secret:
            problems.append(
                "[email] unsubscribe_url needs unsubscribe_secret (OBVO_EMAIL_UNSUBSCRIBE_SECRET)"
            )
    if e.unsubscribe_secret and len(e.unsubscribe_secret) < 32:
        problems.append("[email] unsubscribe_secret must have at least 32 characters")


def _validate_operations(s: Settings, problems: list[str]) -> None:
    if s.source.hole_min_age is not None and s.source.hole_min_age < 0:
        problems.append("[source] hole_min_age must be 0 or more seconds")
    for section, rate in (
        ("email", s.email.max_per_second),
        ("sms", s.sms.max_per_second),
        ("sms_fallback", s.sms_fallback.max_per_second),
    ):
        if rate < 0:
            problems.append(f"[{section}] max_per_second must be 0 (no limit) or more")
    if not 1 <= s.delivery.concurrency <= MAX_CONCURRENCY:
        problems.append(f"[delivery] concurrency must be between 1 and {MAX_CONCURRENCY}")
    if s.delivery.shutdown_grace < 0:
        problems.append("[delivery] shutdown_grace must be 0 or more seconds")
    if s.health.max_lag_seconds < 0:
        problems.append("[health] max_lag_seconds must be 0 (no check) or more seconds")
    if s.health.max_failed < 0:
        problems.append("[health] max_failed must be 0 or more")
    _positive(problems, "[health] failed_window", s.health.failed_window)
    if s.health.max_heartbeat_age < 0:
        problems.append("[health] max_heartbeat_age must be 0 (no check) or more seconds")
    if s.metrics.listen and parse_host_port(s.metrics.listen) is None:
        problems.append(
            f"[metrics] listen must be host:port such as 127.0.0.1:9464, not {s.metrics.listen!r}"
        )
    if s.retention.message_days < 1:
        problems.append("[retention] message_days must be at least 1")


def parse_host_port(value: str) -> tuple[str, int] | None:
    """`127.0.0.1:9464`, `[::1]:9464` or `:9464` (every address) → (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        return None
    return host.strip("[]"), int(port)


def _positive(problems: list[str], name: str, value: float) -> None:
    if not value > 0:
        problems.append(f"{name} must be greater than 0")


def _source_engine_problems(source: SourceSettings) -> list[str]:
    problems: list[str] = []
    if source.url and kind_of_url(source.url) is None:
        problems.append(
            "[source] url must start with postgresql:// (or postgresql+psycopg://) or, for "
            "MariaDB/MySQL, mysql+pymysql://"
        )
    try:
        ZoneInfo(source.timezone)
    except (ValueError, ZoneInfoNotFoundError):
        problems.append(
            f"[source] timezone must be a time zone name such as Europe/Ljubljana, not "
            f"{source.timezone!r}"
        )
    return problems


def _is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://"))
