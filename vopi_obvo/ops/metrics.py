"""The Prometheus endpoint of `obvo run` (`[metrics] listen = "127.0.0.1:9464"`).

In-process figures (events read, send latency) are kept as the daemon works; database figures
(notifications by status and channel, holes, cursor, lag) are read when Prometheus scrapes,
so a scrape costs a few index look-ups and one grouped count of the outbox, and a daemon
without a scraper pays nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIServer

import sqlalchemy as sa
import structlog
from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vopi_obvo import __version__
from vopi_obvo.config import parse_host_port
from vopi_obvo.errors import ConfigError, SourceQueryError, SourceUnavailable
from vopi_obvo.ops import health
from vopi_obvo.queries import q
from vopi_obvo.source.vopi import SOURCE_NAME

if TYPE_CHECKING:
    from vopi_obvo.daemon import Service

log = structlog.get_logger("vopi_obvo.metrics")

# Seconds for one hand-over to SMTP or the SMS gateway: fast local relays to slow providers.
SEND_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class _DatabaseCollector(Collector):
    """Figures read at scrape time from OBVO's tables and VOPI."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        service = self.service
        yield CounterMetricFamily(
            "obvo_events_read",
            "VOPI events read by this process (new ones and filled holes).",
            value=service.events_read_total,
        )
        yield GaugeMetricFamily(
            "obvo_poller_active",
            "1 when this process holds the poller lock (the active instance), 0 on a standby.",
            value=1.0 if service.polling else 0.0,
        )
        info = GaugeMetricFamily("obvo_info", "The running version.", labels=["version"])
        info.add_metric([__version__], 1.0)
        yield info
        errors = 0.0
        cursor: int | None = None
        try:
            outbox, cursor = self._outbox()
            yield from outbox
        except sa.exc.SQLAlchemyError:
            errors += 1
        try:
            yield from self._lag(cursor)
        except (sa.exc.SQLAlchemyError, SourceQueryError, SourceUnavailable):
            errors += 1
        yield GaugeMetricFamily(
            "obvo_scrape_errors",
            "Databases that could not be read for this scrape (OBVO's, VOPI).",
            value=errors,
        )

    def _outbox(self) -> tuple[list[Metric], int | None]:
        service = self.service
        with service.obvo.connect() as conn:
            by_state = conn.execute(q("count_notifications")).all()
            holes = conn.execute(q("metrics_holes"), {"source": SOURCE_NAME}).scalar_one()
            counts = health.counts(conn, SOURCE_NAME, service.settings.health.failed_window)
        notifications = GaugeMetricFamily(
            "obvo_notifications",
            "Notifications in OBVO's outbox by status and channel.",
            labels=["status", "channel"],
        )
        for row in by_state:
            notifications.add_metric([row.status, row.channel], float(row.n))
        found: list[Metric] = [
            notifications,
            GaugeMetricFamily(
                "obvo_holes_pending",
                "Missing VOPI event ids below the cursor, still looked up on every poll.",
                value=float(holes),
            ),
            GaugeMetricFamily(
                "obvo_notifications_failed_recent",
                "Notifications failed within [health] failed_window.",
                value=float(counts.failed_recent),
            ),
        ]
        if counts.cursor is not None:
            found.append(
                GaugeMetricFamily(
                    "obvo_cursor_event_id", "The highest VOPI event id read.", value=counts.cursor
                )
            )
        return found, counts.cursor

    def _lag(self, cursor: int | None) -> Iterator[Metric]:
        lag = health.measure_lag(self.service.source, cursor)
        if lag.seconds is not None:
            yield GaugeMetricFamily(
                "obvo_lag_seconds",
                "Age of the oldest VOPI event not read yet (0 when all are read).",
                value=lag.seconds,
            )
        if lag.events_behind is not None:
            yield GaugeMetricFamily(
                "obvo_events_behind", "VOPI events above the cursor.", value=lag.events_behind
            )


class MetricsServer:
    """The registry, the in-process instruments, and the HTTP server that exposes them."""

    def __init__(self, service: Service, listen: str) -> None:
        address = parse_host_port(listen)
        if address is None:
            raise ConfigError(f"[metrics] listen must be host:port, not {listen!r}")
        self.registry = CollectorRegistry()
        self.send_seconds = Histogram(
            "obvo_send_duration_seconds",
            "Seconds to hand one message to the SMTP server or SMS gateway, by outcome.",
            ["channel", "outcome"],
            buckets=SEND_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_DatabaseCollector(service))
        service.send_observers.append(self.observe_send)
        host, port = address
        try:
            server, thread = start_http_server(port, addr=host or "0.0.0.0", registry=self.registry)  # noqa: S104 - ":9464" asks for every address
        except OSError as exc:
            raise ConfigError(f"[metrics] listen {listen}: cannot listen: {exc.strerror}") from exc
        self._server: WSGIServer = server
        self._thread: threading.Thread = thread
        self.port = int(server.server_address[1])
        log.info("metrics.listening", address=listen, port=self.port)

    def observe_send(self, channel: str, outcome: str, seconds: float) -> None:
        self.send_seconds.labels(channel, outcome).observe(seconds)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
