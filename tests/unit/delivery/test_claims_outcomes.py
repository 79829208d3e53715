"""Claim sizes, claim age and the classification of a sender's unexpected exceptions."""

from __future__ import annotations

import sqlalchemy as sa

from vopi_obvo import db
from vopi_obvo.delivery import claims, outcomes


def test_a_fresh_process_claims_a_small_batch() -> None:
    assert claims.claim_limit(None, 100) == claims.FIRST_CLAIM
    assert claims.claim_limit(None, 3) == 3


def test_the_claim_covers_what_can_be_sent_in_claim_ahead_seconds() -> None:
    assert claims.claim_limit(0.01, 100) == 100  # 200 would fit: capped at batch_size
    assert claims.claim_limit(0.1, 100) == 20
    assert claims.claim_limit(5.0, 100) == 1  # a slow relay: one at a time


def test_the_pace_follows_the_latest_batches() -> None:
    pace = claims.SendPace()
    pace.record(0, 1.0)
    assert pace.seconds_per_message is None
    pace.record(10, 1.0)
    assert pace.seconds_per_message == 0.1
    pace.record(10, 3.0)
    assert pace.seconds_per_message == 0.2


def test_a_claim_older_than_half_the_timeout_is_not_sent() -> None:
    assert not claims.claim_too_old(100.0, 300.0)
    assert claims.claim_too_old(151.0, 300.0)


def test_unexpected_exceptions_are_classified() -> None:
    encoding = outcomes.unexpected_failure(UnicodeEncodeError("ascii", "č", 0, 1, "no"))
    assert encoding.permanent
    assert "UnicodeEncodeError" in str(encoding)
    bug = outcomes.unexpected_failure(RuntimeError("boom"))
    assert not bug.permanent
    assert str(bug) == "unexpected error while sending: RuntimeError: boom"


def test_connection_errors_are_told_from_errors_about_a_row() -> None:
    lost = sa.exc.OperationalError("UPDATE", {}, Exception("server closed the connection"))
    refused = sa.exc.IntegrityError("UPDATE", {}, Exception("check_violation"))
    assert db.is_connection_error(lost)
    assert not db.is_connection_error(refused)


def test_texts_lose_nul_characters_postgresql_refuses() -> None:
    assert outcomes.db_text("a\x00b") == "a\\0b"
    assert outcomes.db_text(None) is None
