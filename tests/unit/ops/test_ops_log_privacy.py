"""No citizen's address or number in clear in a log line, whatever text a server sent back."""

from __future__ import annotations

import io
import json
import sys

import pytest
import structlog

from vopi_obvo.ops.log_privacy import mask_contacts, mask_text, mask_value
from vopi_obvo.ops.logsetup import configure_logging


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            "SMTP 550 5.1.1 <Ana.Kos@Example.si>: Recipient address rejected",
            "SMTP 550 5.1.1 <A***@Example.si>: Recipient address rejected",
        ),
        ('{"error": "invalid number +38640555666"}', '{"error": "invalid number +38640***666"}'),
        (
            "already masked: a***@example.si, +38640***666",
            "already masked: a***@example.si, +38640***666",
        ),
        (
            "HTTP 503 at 2026-11-28 12:00, provider id gw-12345678",
            "HTTP 503 at 2026-11-28 12:00, provider id gw-12345678",
        ),
    ],
)
def test_mask_text(text: str, masked: str) -> None:
    assert mask_text(text) == masked


def test_the_configured_json_log_masks_every_value(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    try:
        configure_logging("info", "json")
        structlog.get_logger("t").error(
            "notification.failed", error="550 <ana.kos@example.si> unknown", to="a***@example.si"
        )
    finally:
        structlog.reset_defaults()
    line = json.loads(out.getvalue())
    assert line["error"] == "550 <a***@example.si> unknown"
    assert "ana.kos@example.si" not in out.getvalue()
    # The event text too: for a line from a standard library logger it is the message.
    assert mask_contacts(None, "info", {"event": "x@y.si", "n": 5}) == {"event": "***@y.si", "n": 5}


def test_obvo_message_ids_stay_readable_but_lookalike_addresses_do_not() -> None:
    assert mask_text("provider_id <obvo.42@koper.si>") == "provider_id <obvo.42@koper.si>"
    assert mask_text("550 <obvo.ana@koper.si> unknown") == "550 <o***@koper.si> unknown"
    assert mask_text("550 <janez@obvo.si>") == "550 <j***@obvo.si>"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("destination 38640555666 invalid", "destination 38640***666 invalid"),
        ("to 0038640555666", "to 003864***666"),
        ("poklicite 040 555 666", "poklicite 040***666"),
        ("number +386 40 555 666 refused", "number +38640***666 refused"),
        ("national 040555666.", "national 040***666."),
        # Not numbers of people: times, dates, durations, short ids, hex, versions.
        ("took 0.123456789 s at 12:00:01", "took 0.123456789 s at 12:00:01"),
        ("build 2026-11-28T12:00:00.123456Z", "build 2026-11-28T12:00:00.123456Z"),
        ("event 1234567 of 7", "event 1234567 of 7"),
    ],
)
def test_numbers_without_a_plus_are_masked_too(text: str, masked: str) -> None:
    assert mask_text(text) == masked


def test_nested_values_and_exceptions_are_masked() -> None:
    event = {
        "event": "batch",
        "recipients": ["ana@example.si", ("+38640555666", 3)],
        "request": {"to": "ana@example.si", "ana@example.si": True, "meta": {"n": 1}},
        "error": ValueError("cannot deliver to ana@example.si"),
        "raw": b"RCPT TO:<ana@example.si>",
        "count": 2,
        "ok": None,
    }
    masked = mask_contacts(None, "info", event)
    assert masked == {
        "event": "batch",
        "recipients": ["a***@example.si", ["+38640***666", 3]],
        "request": {"to": "a***@example.si", "a***@example.si": True, "meta": {"n": 1}},
        "error": "ValueError: cannot deliver to a***@example.si",
        "raw": "RCPT TO:<a***@example.si>",
        "count": 2,
        "ok": None,
    }


def test_identifiers_keep_their_digits_but_not_contacts() -> None:
    masked = mask_contacts(
        None,
        "info",
        {"event": "x", "provider_id": "1234567890", "ids": [12345678901], "pid": "+38640555666"},
    )
    assert masked["provider_id"] == "1234567890"
    assert masked["ids"] == [12345678901]
    assert masked["pid"] == "+38640***666"
    assert mask_value(["040555666"], identifiers=True) == ["040555666"]


def test_standard_library_loggers_go_through_the_same_masking(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import logging  # noqa: PLC0415

    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    try:
        configure_logging("debug", "json")
        logging.getLogger("uvicorn.error").warning("client ana@example.si sent %s", "+38640555666")
        try:
            int("ana@example.si")
        except ValueError:
            logging.getLogger("apscheduler.executors.default").exception("job failed")
        logging.getLogger("smpplib.client").debug(">>%s", "2b3338363430353535363636")
    finally:
        structlog.reset_defaults()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(x["logger"], x["level"]) for x in lines] == [
        ("uvicorn.error", "warning"),
        ("apscheduler.executors.default", "error"),
    ]
    assert lines[0]["event"] == "client a***@example.si sent +38640***666"
    assert "a***@example.si" in lines[1]["exception"]
    assert "ana@example.si" not in out.getvalue()
