"""Settings: a TOML file, a `.env` file and the environment, turned into typed, checked values.

Every scalar key can be overridden by an environment variable `OBVO_<SECTION>_<KEY>`
(`OBVO_DATABASE_URL`, `OBVO_SMS_TOKEN`, `OBVO_EMAIL_PORT`, ...); the environment wins over
`.env`, which wins over the file. Unknown sections or keys are errors, so a typo never
silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values

from vopi_obvo.errors import ConfigError

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
    statement_timeout: float = 10.0

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


@dataclass(frozen=True)
class SmsSettings:
    backend: Literal["http", "log"] = "log"
    url: str = ""
    token: str = ""
    sender: str = "OBCINA"
    timeout: float = 10.0


@dataclass(frozen=True)
class DeliverySettings:
    retry_initial_delay: float = 30.0
    retry_max_delay: float = 3600.0
    max_attempts: int = 10
    batch_size: int = 100
    # A worker whose heartbeat is older than this is dead; its claimed messages are taken back.
    stale_worker_after: float = 60.0


@dataclass(frozen=True)
class LoggingSettings:
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    source: SourceSettings = field(default_factory=SourceSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    sms: SmsSettings = field(default_factory=SmsSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
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
    "delivery": DeliverySettings,
    "logging": LoggingSettings,
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
    prefix = f"{ENV_PREFIX}{section}_".upper()
    for name in env:
        if name.startswith(prefix) and name[len(prefix) :].lower() not in known:
            problems.append(
                f"unknown environment variable {name} (a typo? known keys of "
                f"[{section}]: {', '.join(sorted(known))})"
            )
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        env_name = f"{ENV_PREFIX}{section}_{f.name}".upper()
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
    if s.source.url and not _is_postgres_url(s.source.url):
        problems.append("[source] url must start with postgresql:// or postgresql+psycopg://")
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
    if s.sms.backend == "http" and not s.sms.url.startswith(("http://", "https://")):
        problems.append("[sms] url must be an http:// or https:// URL when backend = 'http'")
    _positive(problems, "[sms] timeout", s.sms.timeout)
    _positive(problems, "[delivery] retry_initial_delay", s.delivery.retry_initial_delay)
    if s.delivery.retry_max_delay < s.delivery.retry_initial_delay:
        problems.append("[delivery] retry_max_delay must not be less than retry_initial_delay")
    if s.delivery.max_attempts < 1:
        problems.append("[delivery] max_attempts must be at least 1")
    if s.delivery.batch_size < 1:
        problems.append("[delivery] batch_size must be at least 1")
    _positive(problems, "[delivery] stale_worker_after", s.delivery.stale_worker_after)


def _positive(problems: list[str], name: str, value: float) -> None:
    if not value > 0:
        problems.append(f"{name} must be greater than 0")


def _is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://"))
