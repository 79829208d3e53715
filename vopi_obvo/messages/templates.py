"""Administrator templates: sandboxed Jinja2; a missing value is an error, never blank text."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from vopi_obvo.errors import TemplateError
from vopi_obvo.problems import Param, Problem

LJUBLJANA = ZoneInfo("Europe/Ljubljana")


class LocalDateTime(dt.datetime):
    """A datetime shown to citizens as `28. 11. 2026 14:05` in Europe/Ljubljana time."""

    def __str__(self) -> str:
        return f"{self.day}. {self.month}. {self.year} {self.hour:02d}:{self.minute:02d}"


class LocalDate(dt.date):
    """A date shown to citizens as `28. 11. 2026`."""

    def __str__(self) -> str:
        return f"{self.day}. {self.month}. {self.year}"


def to_template_value(value: Any) -> Any:
    """Make a database value pleasant in a citizen's message (times in Ljubljana)."""
    if isinstance(value, dt.datetime):
        local = value.astimezone(LJUBLJANA) if value.tzinfo else value
        return LocalDateTime(
            local.year,
            local.month,
            local.day,
            local.hour,
            local.minute,
            local.second,
            local.microsecond,
            local.tzinfo,
        )
    if isinstance(value, dt.date):
        return LocalDate(value.year, value.month, value.day)
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return value


def _format_date(value: Any) -> str:
    if isinstance(value, dt.datetime):
        value = to_template_value(value)
    if isinstance(value, dt.date):
        return f"{value.day}. {value.month}. {value.year}"
    raise TemplateError(Problem("template.filter_date", {"type": type(value).__name__}))


def _format_datetime(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return str(to_template_value(value))
    raise TemplateError(
        Problem("template.filter_time", {"filter": "datetime", "type": type(value).__name__})
    )


def _format_time(value: Any) -> str:
    if isinstance(value, dt.datetime):
        local = to_template_value(value)
        return f"{local.hour:02d}:{local.minute:02d}"
    raise TemplateError(
        Problem("template.filter_time", {"filter": "time", "type": type(value).__name__})
    )


@functools.cache
def sandboxed_environment(
    *,
    autoescape: bool = False,
    finalize: Callable[[Any], Any] | None = None,
    trim_blocks: bool = True,
) -> ImmutableSandboxedEnvironment:
    """The one factory of template environments (text, HTML e-mail, gateway request bodies).

    Sandboxed (templates are data, not code), strict undefined (a missing value is an error,
    never blank text), OBVO's date filters; one cached environment per setting, so each text
    is compiled once.
    """
    env = ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        finalize=finalize,
        keep_trailing_newline=False,
        trim_blocks=trim_blocks,
        lstrip_blocks=trim_blocks,
    )
    env.filters["date"] = _format_date
    env.filters["datetime"] = _format_datetime
    env.filters["time"] = _format_time
    return env


def environment() -> ImmutableSandboxedEnvironment:
    """The text templates' environment: no autoescape (plain text and SMS; HTML bodies are
    rendered with autoescape, see html_templates)."""
    return sandboxed_environment()


@functools.lru_cache(maxsize=4096)
def compile_template(
    source: str,
    *,
    autoescape: bool = False,
    finalize: Callable[[Any], Any] | None = None,
    trim_blocks: bool = True,
) -> jinja2.Template:
    """Compile once per distinct text; raise TemplateError with the line of a syntax error."""
    env = sandboxed_environment(autoescape=autoescape, finalize=finalize, trim_blocks=trim_blocks)
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        syntax: dict[str, Param] = {"line": exc.lineno, "detail": str(exc.message)}
        raise TemplateError(Problem("template.syntax", syntax)) from exc


def render(source: str, context: Mapping[str, Any], *, autoescape: bool = False) -> str:
    """Render a template; every failure (undefined value, sandbox refusal, filter error) is a
    TemplateError that says what went wrong."""
    template = compile_template(source, autoescape=autoescape)
    try:
        return template.render(context).strip()
    except TemplateError:
        raise
    except jinja2.UndefinedError as exc:
        raise TemplateError(Problem("template.undefined", {"detail": str(exc.message)})) from exc
    except jinja2.TemplateError as exc:
        failed: dict[str, Param] = {"kind": type(exc).__name__, "detail": str(exc.message or exc)}
        raise TemplateError(Problem("template.failed", failed)) from exc
    except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
        failed = {"kind": type(exc).__name__, "detail": str(exc)}
        raise TemplateError(Problem("template.failed", failed)) from exc
