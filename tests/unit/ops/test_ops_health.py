"""Health verdicts and the operations settings: pure logic."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import example_config
from vopi_obvo.config import HealthSettings, settings_from_mapping
from vopi_obvo.errors import ConfigError
from vopi_obvo.ops.health import assess


@pytest.mark.parametrize(
    ("report", "problems"),
    [
        ({"lag": {"seconds": 301.0, "events_behind": 4}}, ["lag 301 s (4 event(s) not read)"]),
        ({"lag": {"seconds": 300.0, "events_behind": 4}}, []),
        ({"lag": {"seconds": None, "events_behind": None}}, []),
        ({"failed_recent": {"count": 11}}, ["11 notification(s) failed in the last 3600 s"]),
        ({"failed_recent": {"count": 10}}, []),
        ({"workers": [{"heartbeat_age_seconds": 500}, {"heartbeat_age_seconds": 3}]}, []),
    ],
)
def test_assess_thresholds(report: dict[str, Any], problems: list[str]) -> None:
    full = {"workers": [{"heartbeat_age_seconds": 1.0}], **report}
    found = assess(full, HealthSettings())
    assert len(found) == len(problems)
    for text, expected in zip(found, problems, strict=True):
        assert text.startswith(expected)


def test_heartbeat_check_can_be_switched_off() -> None:
    settings = HealthSettings(max_heartbeat_age=0)
    assert assess({"workers": []}, settings) == []
    assert assess({"workers": []}, HealthSettings()) == [
        "no obvo daemon is running (no worker has registered a heartbeat)"
    ]


def test_an_unreadable_vopi_is_named() -> None:
    report = {"lag": {"error": "connection refused"}, "workers": [{"heartbeat_age_seconds": 1}]}
    assert assess(report, HealthSettings()) == [
        "VOPI cannot be read, so the lag is unknown: connection refused"
    ]


def _settings(**sections: dict[str, Any]) -> Any:
    raw = example_config()
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return settings_from_mapping(raw, {})


def test_operations_defaults() -> None:
    s = _settings()
    assert s.health == HealthSettings(
        max_lag_seconds=300.0, max_failed=10, failed_window=3600.0, max_heartbeat_age=120.0
    )
    assert s.metrics.listen == ""
    assert s.retention.message_days == 90
    assert s.delivery.shutdown_grace == 20.0


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"health": {"max_lag_seconds": -1}}, "[health] max_lag_seconds must be 0 (no check)"),
        ({"health": {"max_failed": -1}}, "[health] max_failed must be 0 or more"),
        ({"health": {"failed_window": 0}}, "[health] failed_window must be greater than 0"),
        ({"health": {"max_heartbeat_age": -5}}, "[health] max_heartbeat_age must be 0"),
        ({"health": {"max_lag": 5}}, "[health] unknown key 'max_lag'"),
        ({"metrics": {"listen": "9464"}}, "[metrics] listen must be host:port such as"),
        ({"metrics": {"listen": "localhost:99999"}}, "[metrics] listen must be host:port"),
        ({"retention": {"message_days": 0}}, "[retention] message_days must be at least 1"),
        ({"retention": {"message_days": "90"}}, "[retention] message_days: must be a whole"),
        ({"delivery": {"shutdown_grace": -1}}, "[delivery] shutdown_grace must be 0 or more"),
    ],
)
def test_operations_settings_are_checked(sections: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        _settings(**sections)
    assert message in str(error.value)


def test_operations_settings_from_the_environment() -> None:
    raw = example_config()
    raw["database"]["url"] = "postgresql://x@127.0.0.1/db"
    s = settings_from_mapping(
        raw,
        {
            "OBVO_HEALTH_MAX_FAILED": "3",
            "OBVO_METRICS_LISTEN": "[::1]:9464",
            "OBVO_RETENTION_MESSAGE_DAYS": "30",
        },
    )
    assert (s.health.max_failed, s.metrics.listen, s.retention.message_days) == (
        3,
        "[::1]:9464",
        30,
    )
