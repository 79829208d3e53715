"""Administration, pure parts: subscriber input, the CSV import, erasure, times."""

from __future__ import annotations

import datetime as dt

import pytest

from vopi_obvo.admin import subscriber_input as inp
from vopi_obvo.admin.audit import default_actor
from vopi_obvo.admin.erasure import ERASED, scrub
from vopi_obvo.admin.subscriber_input import SubscriberData
from vopi_obvo.admin.timespec import parse_past_time, parse_range, parse_time, show_time
from vopi_obvo.errors import InvalidInput
from vopi_obvo.subscriber_cases import covers

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
HEADER = "party,email,phone,events,language,origin,reference,cases\n"


def parse(text: str) -> tuple[list[inp.CsvRow], list[inp.CsvProblem]]:
    return inp.parse_csv(text, "f.csv", now=NOW)


# ---- single fields ----


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: inp.party("  ", "--party"), "--party must not be empty"),
        (lambda: inp.party("7 8", "--party"), "--party: '7 8' is not a VOPI party id"),
        (lambda: inp.email("janez@", "--email"), "--email: invalid e-mail address 'janez@'"),
        (lambda: inp.phone("01 234", "--phone"), "--phone: invalid phone number '01 234'"),
        (lambda: inp.events("some", "--events"), "--events must be all or key, not 'some'"),
        (lambda: inp.language("slo", "--language"), "--language must be a two-letter code"),
        (lambda: inp.origin("fax", "--origin"), "--origin must be one of in_person, written"),
        (lambda: inp.reference(" ", "--reference"), "--reference must not be empty"),
        (lambda: inp.cases(["1 2"], "--case"), "--case: '1 2' is not a case id"),
        (lambda: inp.consent("tomorrow", "--consent-at"), "--consent-at: 'tomorrow' is not"),
    ],
)
def test_each_field_names_itself_when_wrong(call: object, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        call()  # type: ignore[operator]
    assert message in str(caught.value)


def test_fields_are_normalised() -> None:
    assert inp.phone("041 123 456", "x") == "+38641123456"
    assert inp.events(" KEY ", "x") == "key"
    assert inp.language("IT", "x") == "it"
    assert inp.origin("Written", "x") == "written"
    assert inp.cases(["12", "13", "12"], "x") == ("12", "13")


def _data(**changes: object) -> SubscriberData:
    base: dict[str, object] = {
        "party_id": "7",
        "email": "a@example.si",
        "phone": None,
        "events": "all",
        "language": "sl",
        "origin": "in_person",
        "reference": None,
        "consent_at": NOW,
        "cases": (),
    }
    base.update(changes)
    return SubscriberData(**base)  # type: ignore[arg-type]


def test_a_subscriber_needs_a_channel_and_a_written_one_a_reference() -> None:
    inp.check_complete(_data())
    with pytest.raises(InvalidInput, match="at least one channel"):
        inp.check_complete(_data(email=None))
    with pytest.raises(InvalidInput, match="needs its document reference"):
        inp.check_complete(_data(origin="written"))
    inp.check_complete(_data(origin="written", reference="354-1/2026-3"))


# ---- times ----


def test_times_in_ljubljana_iso_and_relative() -> None:
    assert parse_time("2026-03-01", "t") == dt.datetime(2026, 2, 28, 23, 0, tzinfo=dt.UTC)
    assert parse_time("2026-07-01 14:30", "t") == dt.datetime(2026, 7, 1, 12, 30, tzinfo=dt.UTC)
    assert parse_time("2026-07-01T14:30:00+00:00", "t").hour == 14
    assert parse_time("2h", "t", NOW) == NOW - dt.timedelta(hours=2)
    assert parse_time("7d", "t", NOW) == NOW - dt.timedelta(days=7)
    assert parse_time("1w", "t", NOW) == NOW - dt.timedelta(weeks=1)
    with pytest.raises(InvalidInput, match="--since: 'yesterday' is not a time"):
        parse_time("yesterday", "--since")
    with pytest.raises(InvalidInput, match="--consent-at: '2026-03-12' is in the future"):
        parse_past_time("2026-03-12", "--consent-at", NOW)
    assert show_time(NOW) == "2026-03-10 13:00:00"
    assert show_time(None) == ""


def test_a_time_range_is_since_included_until_excluded_and_checked_as_a_whole() -> None:
    assert parse_range(None, None) == (None, None)
    assert parse_range("2026-03-01", None) == (parse_time("2026-03-01", "t"), None)
    assert parse_range(None, "2h", now=NOW) == (None, NOW - dt.timedelta(hours=2))
    assert parse_range("7d", "1d", now=NOW) == (NOW - dt.timedelta(days=7), NOW - dt.timedelta(1))
    with pytest.raises(InvalidInput, match="--until must be later than --since"):
        parse_range("2026-03-02", "2026-03-02", ("--since", "--until"))
    with pytest.raises(InvalidInput) as both:
        parse_range("včeraj", "jutri")
    assert str(both.value) == (
        "since: 'včeraj' is not a time; use 2026-03-01, 2026-03-01 14:30, an ISO 8601 time with"
        " zone, or 30m / 2h / 7d / 1w before now; until: 'jutri' is not a time; use 2026-03-01,"
        " 2026-03-01 14:30, an ISO 8601 time with zone, or 30m / 2h / 7d / 1w before now"
    )


def test_the_actor_is_the_person_behind_sudo() -> None:
    assert default_actor({"SUDO_USER": "ana", "USER": "obvo"}) == "ana"
    assert default_actor({"SUDO_USER": ""}) != ""


def test_case_limits() -> None:
    limits = {1: frozenset({"12"})}
    assert covers(limits, 1, "12")
    assert not covers(limits, 1, "13")
    assert not covers(limits, 1, None)
    assert covers(limits, 2, "13")  # not limited: every case


# ---- CSV ----


def test_valid_rows_with_defaults() -> None:
    rows, problems = parse(
        HEADER
        + "7,Janez@Example.si,041 123 456,,,,,\n"
        + "8,,040 222 333,key,it,written,354-8/2026,12; 13\n"
    )
    assert problems == []
    first, second = rows
    assert (first.line, first.data.email, first.data.phone) == (
        2,
        "Janez@example.si",
        "+38641123456",
    )
    assert (first.data.events, first.data.language, first.data.origin) == ("all", "sl", "in_person")
    assert first.data.consent_at == NOW
    assert second.data.cases == ("12", "13")
    assert (second.data.origin, second.data.reference) == ("written", "354-8/2026")


def test_each_invalid_row_is_reported_with_its_line() -> None:
    rows, problems = parse(
        HEADER
        + "7,janez@,,,,,,\n"  # line 2
        + "\n"  # line 3: blank, skipped
        + "8,a@example.si,,sometimes,,,,\n"  # line 4
        + '9,"b@example.si",,,,written,,\n'  # line 5
        + "10,c@example.si,,,,,\n"  # line 6: a cell short
        + "11,,,,,,,\n"  # line 7
        + '12,"d@example.si",,,,,,"31\n32"\n'  # lines 8-9: fine, two cases
        + "7,e@example.si,,,,,,\n"  # line 10: party 7 again, but line 2 was invalid
        + "12,f@example.si,,,,,,\n"  # line 11: duplicate of line 8
    )
    assert [(r.line, r.data.party_id) for r in rows] == [(8, "12"), (10, "7")]
    assert [(p.line, p.message) for p in problems] == [
        (2, "column email: invalid e-mail address 'janez@': "
            "There must be something after the @-sign."),
        (4, "column events must be all or key, not 'sometimes'"),
        (5, "party 9: a written application needs its document reference"),
        (6, "7 cell(s), but the header has 8"),
        (7, "party 11: a subscriber needs at least one channel: e-mail and/or phone"),
        (11, "party 12 is also on line 8"),
    ]  # fmt: skip


def test_semicolons_bom_and_only_some_columns() -> None:
    text = "\ufeffParty;Phone\r\n7;041 123 456\r\n"
    rows, problems = parse(text)
    assert problems == []
    assert rows[0].data.phone == "+38641123456"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "line 1: the header row is missing"),
        ("party,email,fax\n", "unknown column(s) 'fax'"),
        ("email,phone\n", "the column party is missing"),
        ("party,events\n", "a column email or phone (or both) is needed"),
        ("party,email,email\n", "column(s) email more than once"),
    ],
)
def test_an_unusable_header_refuses_the_whole_file(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse(text)
    assert str(caught.value).startswith("f.csv: line 1")
    assert message in str(caught.value)


def test_a_broken_quote_stops_at_its_line() -> None:
    rows, problems = parse('party,email\n7,a@example.si\n8,"b@example.si\n')
    assert [r.line for r in rows] == [2]
    assert problems[0].line == 3
    assert "not valid CSV" in problems[0].message


def test_not_utf8_names_the_line() -> None:
    raw = b"party,email\n7,a@example.si\n" + "8,Šef@example.si\n".encode("cp1250")
    with pytest.raises(InvalidInput, match=r"f.csv: line 3: not UTF-8 text \(byte 0x8a\)"):
        inp.decode_csv(raw, "f.csv")
    assert inp.decode_csv("\ufeffparty".encode(), "f.csv") == "party"


# ---- erasure ----


def test_scrub_takes_every_form_of_an_address_out() -> None:
    text = "550 5.1.1 <JANEZ@example.si>: no mailbox; SMS to 38641123456 and 041123456 failed"
    cleaned = scrub(text, ["janez@example.si", "+38641123456"])
    assert "janez" not in cleaned.lower()
    assert "41123456" not in cleaned
    assert cleaned.count(ERASED) == 3
    assert scrub("timeout", ["a@example.si"]) == "timeout"
