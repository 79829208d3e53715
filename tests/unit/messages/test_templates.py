"""templates.py: sandboxed Jinja2, strict undefined, times shown in Europe/Ljubljana."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vopi_obvo.errors import TemplateError
from vopi_obvo.messages import templates
from vopi_obvo.messages.templates import compile_template, render, to_template_value

UTC = dt.UTC
NEW_YORK = ZoneInfo("America/New_York")


# ---- values ----


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (dt.datetime(2026, 7, 1, 10, 0, tzinfo=UTC), "1. 7. 2026 12:00"),  # summer: UTC+2
        (dt.datetime(2026, 1, 15, 10, 0, tzinfo=UTC), "15. 1. 2026 11:00"),  # winter: UTC+1
        (dt.datetime(2026, 3, 29, 0, 59, tzinfo=UTC), "29. 3. 2026 01:59"),  # before the switch
        (dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "29. 3. 2026 03:00"),  # after the switch
        (dt.datetime(2026, 12, 31, 23, 30, tzinfo=UTC), "1. 1. 2027 00:30"),  # next year there
        (dt.datetime(2026, 11, 28, 8, 5, tzinfo=NEW_YORK), "28. 11. 2026 14:05"),
        (dt.datetime(2026, 11, 28, 14, 5, 59), "28. 11. 2026 14:05"),  # noqa: DTZ001 - naive: as is
    ],
)
def test_datetimes_are_shown_in_ljubljana(value: dt.datetime, shown: str) -> None:
    local = to_template_value(value)
    assert str(local) == shown
    assert render("{{ t }}", {"t": local}) == shown


def test_converted_datetime_is_the_same_instant() -> None:
    value = dt.datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    local = to_template_value(value)
    assert isinstance(local, dt.datetime)
    assert local == value
    assert local.utcoffset() == dt.timedelta(hours=2)


def test_date_values() -> None:
    local = to_template_value(dt.date(2026, 7, 1))
    assert str(local) == "1. 7. 2026"
    assert local == dt.date(2026, 7, 1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("2"), 2),
        (Decimal("2.00"), 2),
        (Decimal("1E+2"), 100),
        ("354-12/2026", "354-12/2026"),
        (None, None),
        (7, 7),
    ],
)
def test_plain_values(value: Any, expected: Any) -> None:
    result = to_template_value(value)
    assert result == expected
    assert type(result) is type(expected)


def test_fractional_decimal_keeps_its_digits() -> None:
    result = to_template_value(Decimal("2.50"))
    assert isinstance(result, Decimal)
    assert render("{{ x }} €", {"x": result}) == "2.50 €"


def test_infinite_decimal_does_not_crash() -> None:
    assert to_template_value(Decimal("Infinity")) == Decimal("Infinity")


@settings(max_examples=60, deadline=None)
@given(
    st.datetimes(
        min_value=dt.datetime(1970, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
        max_value=dt.datetime(2200, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    )
)
def test_any_utc_datetime_matches_zoneinfo(value: dt.datetime) -> None:
    expected = value.astimezone(ZoneInfo("Europe/Ljubljana"))
    shown = f"{expected.day}. {expected.month}. {expected.year} {expected:%H:%M}"
    assert str(to_template_value(value)) == shown


# ---- filters ----

SUMMER = dt.datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("source", "value", "expected"),
    [
        ("{{ t | datetime }}", SUMMER, "1. 7. 2026 12:00"),
        ("{{ t | date }}", SUMMER, "1. 7. 2026"),
        ("{{ t | time }}", SUMMER, "12:00"),
        ("{{ t | time }}", dt.datetime(2026, 1, 15, 7, 5, tzinfo=UTC), "08:05"),
        ("{{ t | date }}", dt.date(2026, 11, 28), "28. 11. 2026"),
        ("{{ t | datetime }}", to_template_value(SUMMER), "1. 7. 2026 12:00"),
        ("{{ t | date }}", to_template_value(dt.datetime(2026, 7, 1, 22, 30, tzinfo=UTC)),
         "2. 7. 2026"),
    ],
)  # fmt: skip
def test_filters(source: str, value: Any, expected: str) -> None:
    assert render(source, {"t": value}) == expected


def test_time_filter_converts_to_ljubljana() -> None:
    assert render("{{ t | time }}", {"t": dt.datetime(2026, 7, 1, 22, 30, tzinfo=UTC)}) == "00:30"


def test_date_filter_converts_to_ljubljana() -> None:
    value = dt.datetime(2026, 7, 1, 22, 30, tzinfo=UTC)  # 2 July 00:30 in Ljubljana
    assert render("{{ t | date }} {{ t | time }}", {"t": value}) == "2. 7. 2026 00:30"


@pytest.mark.parametrize(
    ("source", "value", "message"),
    [
        ("{{ t | datetime }}", dt.date(2026, 7, 1), "filter 'datetime' needs a time, not date"),
        ("{{ t | time }}", dt.date(2026, 7, 1), "filter 'time' needs a time, not date"),
        ("{{ t | date }}", "1. 7. 2026", "filter 'date' needs a date or time, not str"),
        ("{{ t | datetime }}", 5, "filter 'datetime' needs a time, not int"),
    ],
)
def test_filters_refuse_the_wrong_type(source: str, value: Any, message: str) -> None:
    with pytest.raises(TemplateError, match=f"^{message}$"):
        render(source, {"t": value})


# ---- strictness ----


def test_undefined_variable_is_an_error() -> None:
    with pytest.raises(TemplateError, match=r"^undefined value: 'missing' is undefined$"):
        render("Pozdravljeni {{ missing }}", {})


def test_undefined_attribute_is_an_error() -> None:
    with pytest.raises(TemplateError) as info:
        render("{{ event.case_number }}", {"event": {"case_id": 1}})
    assert str(info.value) == "undefined value: 'dict object' has no attribute 'case_number'"


def test_default_filter_still_works_for_optional_values() -> None:
    assert render("{{ event.x | default('—') }}", {"event": {}}) == "—"


def test_output_is_stripped_and_blocks_trimmed() -> None:
    source = "\n  {% if n %}\n  Da {{ n }}\n  {% endif %}\n\n"
    assert render(source, {"n": 3}) == "Da 3"


def test_no_autoescape() -> None:
    assert render("{{ s }}", {"s": "<Novak & Co>"}) == "<Novak & Co>"


def test_runtime_errors_become_template_errors() -> None:
    with pytest.raises(TemplateError, match=r"^ZeroDivisionError: division by zero$"):
        render("{{ 1 / n }}", {"n": 0})


# ---- sandbox ----


@pytest.mark.parametrize(
    "source",
    [
        "{{ event.__class__ }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ event | attr('__class__') }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lipsum.__globals__ }}",
        "{{ items.append(3) }}",
        "{{ event.pop('case_id') }}",
        "{{ range(10 ** 9) | list }}",
    ],
)
def test_sandbox_refuses(source: str) -> None:
    context = {"event": {"case_id": 1}, "items": [1, 2]}
    with pytest.raises(TemplateError) as info:
        render(source, context)
    message = str(info.value)
    assert message.startswith(("SecurityError: ", "OverflowError: "))
    assert "<class" not in message
    assert context == {"event": {"case_id": 1}, "items": [1, 2]}


def test_sandbox_refusal_names_the_attribute() -> None:
    with pytest.raises(TemplateError) as info:
        render("{{ event.__class__ }}", {"event": {}})
    assert str(info.value) == (
        "SecurityError: access to attribute '__class__' of 'dict' object is unsafe."
    )


def test_environment_is_sandboxed_and_shared() -> None:
    env = templates.environment()
    assert env is templates.environment()
    assert env.is_safe_attribute("", "__class__", str) is False


# ---- syntax errors ----


def test_syntax_error_names_line_one() -> None:
    with pytest.raises(TemplateError) as info:
        compile_template("{{ event.case_number ")
    assert str(info.value) == (
        "syntax error on line 1: unexpected end of template, expected 'end of print statement'."
    )


def test_syntax_error_names_a_later_line() -> None:
    with pytest.raises(TemplateError, match=r"^syntax error on line 3: "):
        compile_template("Spoštovani,\n\n{% if %}da{% endif %}\n")


def test_render_reports_syntax_errors_too() -> None:
    with pytest.raises(TemplateError, match=r"^syntax error on line 2: "):
        render("a\n{{ }}", {})


def test_compiled_templates_are_cached() -> None:
    assert compile_template("Vloga {{ n }}") is compile_template("Vloga {{ n }}")
