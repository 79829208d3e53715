"""Serving an ASGI app on uvicorn until SIGTERM/SIGINT (`obvo portal`, `obvo console`)."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any


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
