"""Serving an ASGI app on uvicorn until SIGTERM/SIGINT (`obvo portal`, `obvo console`):
the listener, the schema check, the started and stopped log lines, the app's state closed."""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

from vopi_obvo import __version__
from vopi_obvo.errors import ExitCode
from vopi_obvo.ops.migrate import require_up_to_date
from vopi_obvo.web.context import WebApp
from vopi_obvo.web.proxy import listen_address
from vopi_obvo.web.settings import WebAppConfig

AppT = TypeVar("AppT", bound=WebApp[Any])


def serve_web_app(
    config: WebAppConfig,
    listen: str | None,
    open_state: Callable[[], AppT],
    create_app: Callable[[AppT], Any],
    **started: object,
) -> int:
    """Serve one app until stopped: `--listen` (or the configured listener) checked before
    anything starts, the state opened (its CRL fetcher starts), the schema must be current;
    `started` adds the app's own fields to its `<name>.started` line."""
    host, port = listen_address((config.host, config.port), listen)
    state = open_state()
    try:
        require_up_to_date(state.engine, state.settings.database.schema)
        state.log.info(
            f"{state.name}.started",
            version=__version__,
            listen=f"{host}:{port}",
            issuers=len(config.issuers.cas),
            **started,
        )
        serve_until_stopped(create_app(state), host, port)
    finally:
        state.close()
    state.log.info(f"{state.name}.stopped")
    return ExitCode.OK


def serve_until_stopped(app: Any, host: str, port: int) -> None:
    """uvicorn stops gracefully on SIGTERM/SIGINT and then raises the signal again for the
    handler that was there before it: a quiet one, so the command ends with exit 0."""
    previous = {s: signal.signal(s, _ignore) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        _serve(app, host, port)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """Swallows the signal uvicorn re-raises after its graceful shutdown."""


def _serve(app: Any, host: str, port: int) -> None:
    import uvicorn  # noqa: PLC0415 - keeps `obvo --help` fast

    uvicorn.run(
        app,
        host=host,
        port=port,
        # The peer address must stay the TCP peer: it decides whether the certificate
        # header is trusted. Never let X-Forwarded-For rewrite it.
        proxy_headers=False,
        forwarded_allow_ips="",
        server_header=False,
        date_header=True,
        access_log=False,  # our own line per request names the route, not the path
        log_config=None,
        timeout_graceful_shutdown=10,
    )
