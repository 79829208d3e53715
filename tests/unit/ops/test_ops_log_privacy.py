"""No citizen's address or number in clear in a log line, whatever text a server sent back."""

from __future__ import annotations

import io
import json
import sys

import pytest
import structlog

from vopi_obvo.ops.log_privacy import mask_contacts, mask_text
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
    assert mask_contacts(None, "info", {"event": "x@y.si", "n": 5}) == {"event": "x@y.si", "n": 5}


def test_obvo_message_ids_stay_readable_but_lookalike_addresses_do_not() -> None:
    assert mask_text("provider_id <obvo.42@koper.si>") == "provider_id <obvo.42@koper.si>"
    assert mask_text("550 <obvo.ana@koper.si> unknown") == "550 <o***@koper.si> unknown"
    assert mask_text("550 <janez@obvo.si>") == "550 <j***@obvo.si>"
