"""The Prometheus endpoint over real HTTP: events read, lag, holes, notifications by status and
channel, send latency, while the daemon works against real databases and servers."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable, Iterator

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_pipeline import apply_rules, subscribe
from tests.support import SmsGateway, SmtpServer, Vopi, free_port, wait_for
from vopi_obvo.config import Settings
from vopi_obvo.daemon import Service
from vopi_obvo.errors import ConfigError
from vopi_obvo.ops.metrics import MetricsServer

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> tuple[str, Samples]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode("utf-8")
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture
def running(settings: Settings) -> Iterator[tuple[Service, MetricsServer, threading.Thread]]:
    apply_rules(settings)
    service = Service(settings)
    metrics = MetricsServer(service, f"127.0.0.1:{free_port()}")
    worker = threading.Thread(target=service.run, daemon=True)
    worker.start()
    yield service, metrics, worker
    service.stop_event.set()
    worker.join(timeout=20)
    metrics.close()
    service.close()


def test_metrics_follow_the_work(
    running: tuple[Service, MetricsServer, threading.Thread],
    vopi: Vopi,
    settings: Settings,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
) -> None:
    service, metrics, worker = running
    janez = vopi.party()
    subscribe(settings, janez, email="janez@example.si", phone="+38641123456")
    refused = vopi.party()
    smtp_server.handler.refuse["nobody@example.si"] = "550 5.1.1 no such user"
    subscribe(settings, refused, email="nobody@example.si")
    vopi.event("KLAS", vopi.application(janez))
    last = vopi.event("KLAS", vopi.application(refused))

    def settled() -> Samples | None:
        _, samples = scrape(metrics.port)
        done = value(samples, "obvo_notifications", status="failed", channel="email") == 1
        return samples if done and value(samples, "obvo_events_read_total") == 2 else None

    samples = wait_for(settled, timeout=20)
    assert value(samples, "obvo_notifications", status="sent", channel="email") == 1
    assert value(samples, "obvo_notifications", status="sent", channel="sms") == 1
    assert value(samples, "obvo_send_duration_seconds_count", channel="email", outcome="sent") == 1
    assert value(samples, "obvo_send_duration_seconds_count", channel="sms", outcome="sent") == 1
    assert (
        value(samples, "obvo_send_duration_seconds_count", channel="email", outcome="permanent")
        == 1
    )
    sms_seconds = value(samples, "obvo_send_duration_seconds_sum", channel="sms", outcome="sent")
    assert sms_seconds is not None
    assert sms_seconds > 0
    assert value(samples, "obvo_notifications_failed_recent") == 1
    assert value(samples, "obvo_cursor_event_id") == last
    assert value(samples, "obvo_lag_seconds") == 0
    assert value(samples, "obvo_events_behind") == 0
    assert value(samples, "obvo_holes_pending") == 0
    assert value(samples, "obvo_poller_active") == 1
    assert value(samples, "obvo_scrape_errors") == 0

    # A VOPI transaction that has drawn an id and not committed yet: a hole.
    app = vopi.application(janez)
    with vopi.open_transaction() as slow:
        slow.execute(
            "INSERT INTO vopi.event_log (event_type_code, application_id) VALUES ('OGLED', %s)",
            (app,),
        )
        vopi.event("OGLED", app)
        wait_for(lambda: value(scrape(metrics.port)[1], "obvo_holes_pending") == 1, timeout=20)
    wait_for(lambda: value(scrape(metrics.port)[1], "obvo_holes_pending") == 0, timeout=20)

    service.stop_event.set()
    worker.join(timeout=20)
    # Stopped: a standby's view, and an event an hour old that nobody reads.
    vopi.conn.execute(
        "INSERT INTO vopi.event_log (event_type_code, application_id, created_at)"
        " VALUES ('OGLED', %s, now() - interval '1 hour')",
        (app,),
    )
    text, samples = scrape(metrics.port)
    assert value(samples, "obvo_poller_active") == 0
    assert value(samples, "obvo_events_behind") == 1
    lag = value(samples, "obvo_lag_seconds")
    assert lag is not None
    assert 3590 < lag < 3700
    assert "# HELP obvo_send_duration_seconds Seconds to hand one message" in text
    assert 'obvo_info{version="' in text


def test_an_unreadable_database_shows_as_a_scrape_error(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(source__url=f"postgresql://postgres@127.0.0.1:{free_port()}/x")
    service = Service(settings)
    metrics = MetricsServer(service, f"127.0.0.1:{free_port()}")
    try:
        _, samples = scrape(metrics.port)
    finally:
        metrics.close()
        service.close()
    assert value(samples, "obvo_scrape_errors") == 1  # VOPI; OBVO's own database answered
    assert value(samples, "obvo_holes_pending") == 0
    assert value(samples, "obvo_lag_seconds") is None


def test_a_port_in_use_is_a_configuration_error(settings: Settings) -> None:
    service = Service(settings)
    first = MetricsServer(service, f"127.0.0.1:{free_port()}")
    try:
        with pytest.raises(ConfigError, match=r"\[metrics\] listen 127.0.0.1:\d+: cannot listen"):
            MetricsServer(service, f"127.0.0.1:{first.port}")
    finally:
        first.close()
        service.close()
    with psycopg.connect(settings.database.url) as conn:
        assert conn.execute("SELECT count(*) FROM obvo.workers").fetchone() == (0,)
