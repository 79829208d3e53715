"""unsubscribe.py: signed tokens for the List-Unsubscribe link, verified by the portal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vopi_obvo.messages.unsubscribe import UnsubscribeToken, sign, verify

SECRET = "k" * 32
OTHER = "x" * 32
ids = st.integers(min_value=1, max_value=2**63 - 1)


@given(subscriber=ids, notification=ids)
def test_a_signed_token_verifies_to_its_ids(subscriber: int, notification: int) -> None:
    token = sign(subscriber, notification, SECRET)
    assert verify(token, SECRET) == UnsubscribeToken(subscriber, notification)
    assert verify(token, OTHER) is None


def test_token_is_short_and_url_safe() -> None:
    token = sign(12345, 678901, SECRET)
    assert token.startswith("12345.678901.")
    assert len(token) <= 60
    assert all(c.isalnum() or c in "._-" for c in token)


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.replace("7.", "8.", 1),  # another subscriber
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # altered signature
        lambda t: t + "x",
        lambda t: t.rsplit(".", 1)[0],  # no signature
        lambda t: "0" + t,  # leading zero: another spelling of the same id
        lambda t: t.replace(".", "/", 1),
        lambda t: "",
    ],
)
def test_altered_tokens_are_rejected(change: object) -> None:
    token = sign(7, 9, SECRET)
    assert callable(change)
    altered = change(token)
    assert altered != token
    assert verify(altered, SECRET) is None


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 characters"):
        sign(1, 1, "short")


def test_ids_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        sign(0, 1, SECRET)
