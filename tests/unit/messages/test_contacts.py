"""contacts.py: e-mail and mobile numbers validated and normalised; masked for logs."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vopi_obvo.errors import ExitCode, InvalidInput
from vopi_obvo.messages.contacts import (
    mask_email,
    mask_phone,
    mask_recipient,
    normalise_email,
    normalise_phone,
)

# ---- phone numbers ----


@pytest.mark.parametrize(
    "number",
    [
        "041 123 456",
        "041123456",
        "041-123-456",
        "041/123-456",
        "(041) 123 456",
        "  041 123 456  ",
        "00386 41 123 456",
        "+386 41 123 456",
        "+38641123456",
        "+386 (0)41 123 456",
    ],
)
def test_slovenian_forms_become_e164(number: str) -> None:
    assert normalise_phone(number) == "+38641123456"


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("030 123 456", "+38630123456"),
        ("031 123 456", "+38631123456"),
        ("040 222 222", "+38640222222"),
        ("051 123 456", "+38651123456"),
        ("064 123 456", "+38664123456"),
        ("068 123 456", "+38668123456"),
        ("070 123 456", "+38670123456"),
        ("071 123 456", "+38671123456"),
    ],
)
def test_slovenian_mobile_networks(number: str, expected: str) -> None:
    assert normalise_phone(number) == expected


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("+39 347 123 4567", "+393471234567"),
        ("0039 347 123 4567", "+393471234567"),
        ("+44 7911 123456", "+447911123456"),
        ("+43 664 1234567", "+436641234567"),
    ],
)
def test_foreign_mobiles_are_accepted(number: str, expected: str) -> None:
    assert normalise_phone(number) == expected


def test_national_form_of_another_region() -> None:
    assert normalise_phone("347 123 4567", region="IT") == "+393471234567"


@pytest.mark.parametrize(
    "number", ["01 234 56 78", "+386 1 234 56 78", "02 234 56 78", "05 663 80 00", "080 12 34"]
)
def test_landlines_and_service_numbers_are_refused(number: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalise_phone(number)
    assert str(info.value) == (
        f"invalid phone number {number!r}: not a mobile number, cannot take SMS"
    )


@pytest.mark.parametrize("number", ["041 123", "041 12345", "+386 41 123 4567", "+386 41 12345"])
def test_invalid_numbers_are_refused(number: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalise_phone(number)
    assert str(info.value) == (
        f"invalid phone number {number!r}: not a valid number "
        "(use e.g. 041 123 456 or +386 41 123 456)"
    )


@pytest.mark.parametrize("number", ["abc", "telefon", "+", "041 12a 456"])
def test_text_that_is_no_number_is_refused(number: str) -> None:
    with pytest.raises(InvalidInput, match=f"^invalid phone number {re.escape(repr(number))}: "):
        normalise_phone(number)


def test_letters_in_a_number_are_refused() -> None:
    with pytest.raises(InvalidInput, match="'041 ABC DEF'"):
        normalise_phone("041 ABC DEF")


@pytest.mark.parametrize("number", ["", "   "])
def test_empty_phone(number: str) -> None:
    with pytest.raises(InvalidInput, match=r"^phone number is empty$"):
        normalise_phone(number)


def test_invalid_input_exit_code() -> None:
    assert InvalidInput("x").exit_code == ExitCode.CONFIG


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet="0123456789", min_size=6, max_size=6))
def test_every_041_number_normalises(digits: str) -> None:
    national = f"041 {digits[:3]} {digits[3:]}"
    e164 = normalise_phone(national)
    assert e164 == f"+38641{digits}"
    assert normalise_phone(e164) == e164  # idempotent


# ---- e-mail ----


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("ana@koper.si", "ana@koper.si"),
        ("  ana.novak@koper.si \n", "ana.novak@koper.si"),
        ("Ana.Novak@Example.SI", "Ana.Novak@example.si"),  # the domain only is case-insensitive
        ("ana+obvo@koper.si", "ana+obvo@koper.si"),
        ("žan@občina.si", "žan@občina.si"),
    ],
)
def test_email_normalisation(address: str, expected: str) -> None:
    assert normalise_email(address) == expected


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("no-at-sign", "An email address must have an @-sign."),
        ("a@b", "It should have a period."),
        ("a@@koper.si", "invalid characters"),
        ("ana@koper..si", "two periods in a row"),
        ("ana novak@koper.si", "invalid characters before the @-sign"),
        ("ana@koper.si.", "cannot end with a period"),
        ("@koper.si", "There must be something before the @-sign."),
    ],
)
def test_email_rejections_name_the_address(address: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalise_email(address)
    message = str(info.value)
    assert message.startswith(f"invalid e-mail address {address!r}: ")
    assert reason in message


@pytest.mark.parametrize("address", ["", "  \t"])
def test_empty_email(address: str) -> None:
    with pytest.raises(InvalidInput, match=r"^e-mail address is empty$"):
        normalise_email(address)


# ---- masking ----


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("ana.novak@koper.si", "a***@koper.si"),
        ("a@koper.si", "***@koper.si"),  # a one-letter local part is not shown at all
        ("žan@občina.si", "ž***@občina.si"),
        (None, ""),
        ("", ""),
    ],
)
def test_mask_email(address: str | None, masked: str) -> None:
    assert mask_email(address) == masked


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+38641123456", "+38641***456"),
        ("+393471234567", "+39347***567"),
        ("+3861234", "+3***"),
        (None, ""),
        ("", ""),
    ],
)
def test_mask_phone(number: str | None, masked: str) -> None:
    assert mask_phone(number) == masked


def test_mask_recipient_picks_by_shape() -> None:
    assert mask_recipient("ana.novak@koper.si") == "a***@koper.si"
    assert mask_recipient("+38641123456") == "+38641***456"
    assert mask_recipient(None) == ""


@settings(max_examples=40, deadline=None)
@given(st.emails())
def test_masked_email_never_contains_the_address(address: str) -> None:
    # the mask keeps the first character and writes three asterisks: a local part of nothing
    # but asterisks, or one character followed by asterisks, reads like the mask itself
    local = address.rpartition("@")[0]
    assume(set(local) != {"*"} and set(local[1:]) != {"*"})
    masked = mask_email(address)
    assert address not in masked
    assert "***" in masked
    if len(local) > 1:
        assert local not in masked.rpartition("@")[0]


@settings(max_examples=50, deadline=None)
@given(st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True))
def test_masked_phone_never_contains_the_number(number: str) -> None:
    masked = mask_phone(number)
    assert number not in masked
    assert "***" in masked


def test_masked_short_number_hides_digits() -> None:
    number = normalise_phone("+682 71234")
    assert number == "+68271234"
    visible = sum(ch.isdigit() for ch in mask_phone(number))
    assert visible <= sum(ch.isdigit() for ch in number) - 3
