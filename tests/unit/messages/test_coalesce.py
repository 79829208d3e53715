"""Coalescing decisions (which notifications share a message) and the shared message's text."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from vopi_obvo.messages.coalesce import (
    EMAIL_SEPARATOR,
    Member,
    plan_groups,
    render_group,
    uses_events,
)
from vopi_obvo.messages.event_values import dump_values, load_values
from vopi_obvo.rules import Channel, EventsLevel, Subscriber, parse_rules_document

T0 = dt.datetime(2026, 5, 4, 10, 0, tzinfo=dt.UTC)
W = dt.timedelta(seconds=300)


def member(
    id_: int,
    seconds: float = 0,
    *,
    subscriber: int = 1,
    channel: str = "sms",
    case: str = "7",
    event_type: str = "VLOZ",
    kind: str = "notify",
    body: str | None = None,
    subject: str | None = None,
    values: dict[str, Any] | None = None,
) -> Member:
    return Member(
        id=id_,
        subscriber_id=subscriber,
        channel=channel,
        case_id=case,
        source_event_id=100 + id_,
        event_type=event_type,
        event_kind=kind,
        when=T0 + dt.timedelta(seconds=seconds),
        subject=subject,
        body=body if body is not None else f"text {id_}",
        values=values,
    )


def ids(groups: list[Any]) -> list[tuple[int, list[int]]]:
    return [(g.carrier.id, sorted(m.id for m in g.others)) for g in groups]


# ---- grouping ----


def test_claimed_ones_of_one_application_and_subscriber_share_a_message() -> None:
    groups = plan_groups([member(1, 0), member(2, 30), member(3, 290)], [], W)
    assert ids(groups) == [(1, [2, 3])]


def test_the_oldest_event_carries_the_message() -> None:
    groups = plan_groups([member(5, 100), member(2, 0)], [], W)
    assert ids(groups) == [(2, [5])]


def test_outside_the_window_a_new_message_begins() -> None:
    groups = plan_groups([member(1, 0), member(2, 299), member(3, 301), member(4, 500)], [], W)
    assert ids(groups) == [(1, [2]), (3, [4])]


def test_other_subscribers_channels_and_applications_are_apart() -> None:
    claimed = [
        member(1),
        member(2, subscriber=2),
        member(3, channel="email"),
        member(4, case="8"),
        member(5, 10),
    ]
    assert ids(plan_groups(claimed, [], W)) == [(1, [5]), (2, []), (3, []), (4, [])]


def test_companions_join_the_carrier_they_were_found_for() -> None:
    claimed = [member(1, 0)]
    companions = [(1, member(2, 60)), (1, member(3, 120))]
    assert ids(plan_groups(claimed, companions, W)) == [(1, [2, 3])]


def test_a_companion_is_never_in_two_messages() -> None:
    claimed = [member(1, 0, subscriber=1), member(9, 0, subscriber=1, channel="email")]
    # the same pending row reported for two claimed ones (as a join can)
    companions = [(1, member(2, 60)), (9, member(2, 60)), (1, member(2, 60))]
    groups = plan_groups(claimed, companions, W)
    assert ids(groups) == [(1, [2]), (9, [])]


def test_a_companion_too_far_from_the_carrier_stays_pending() -> None:
    claimed = [member(1, 0), member(2, 250)]  # 2 joins 1
    companions = [(2, member(3, 500))]  # within the window of 2, not of the carrier 1
    assert ids(plan_groups(claimed, companions, W)) == [(1, [2])]


claimed_strategy = st.lists(
    st.builds(
        lambda i, s, sub, ch, case: member(i, s, subscriber=sub, channel=ch, case=case),
        st.integers(1, 40),
        st.integers(0, 1200),
        st.integers(1, 3),
        st.sampled_from(["sms", "email"]),
        st.sampled_from(["7", "8"]),
    ),
    max_size=25,
    unique_by=lambda m: m.id,
)


@settings(max_examples=300, deadline=None)
@given(claimed=claimed_strategy, companion_ids=st.sets(st.integers(41, 80), max_size=20))
def test_grouping_properties(claimed: list[Member], companion_ids: set[int]) -> None:
    companions = [
        (
            c.id,
            member(
                i,
                c.when.timestamp() - T0.timestamp() + (i % 7) * 50,
                subscriber=c.subscriber_id,
                channel=c.channel,
                case=c.case_id,
            ),
        )
        for i, c in zip(sorted(companion_ids), claimed * 3, strict=False)
    ]
    groups = plan_groups(claimed, companions, W)
    placed = [m.id for g in groups for m in (g.carrier, *g.others)]
    assert len(placed) == len(set(placed))  # nobody in two messages
    assert {m.id for m in claimed} <= set(placed)  # every claimed one is sent or carried
    for g in groups:
        for m in g.others:
            assert m.group_key == g.carrier.group_key
            assert abs(m.when - g.carrier.when) <= W
    carriers = [g.carrier for g in groups]
    # two carriers of one key are more than a window apart
    for a in carriers:
        for b in carriers:
            if a.id != b.id and a.group_key == b.group_key:
                assert abs(a.when - b.when) > W


# ---- the shared text ----

RULES = parse_rules_document(
    {
        "event_types": [
            {
                "code": "VLOZ",
                "name": "Vloga je vložena",
                "kind": "notify",
                "templates": {
                    "sl": {
                        "email_subject": "Prejeli smo vlogo {{ event.case_number }}",
                        "email_body": "Vloga {{ event.case_number }} je prejeta.",
                        "sms": "Vloga {{ event.case_number }} prejeta.",
                    }
                },
            },
            {
                "code": "KLAS",
                "name": "Klasifikacija",
                "kind": "key",
                "templates": {
                    "sl": {
                        "email_subject": "{{ events | length }} novosti o vlogi "
                        "{{ event.case_number }}",
                        "email_body": "{% for e in events %}- {{ e.event_type.name }} "
                        "({{ e.event.occurred_at | time }})\n{% endfor %}",
                        "sms": "Vloga {{ event.case_number }}: "
                        "{% for e in events %}{{ e.event_type.code }}"
                        "{% if not loop.last %}, {% endif %}{% endfor %}",
                    },
                    "it": {
                        "email_subject": "Domanda {{ event.case_number }}",
                        "email_body": "Domanda {{ event.case_number }}.",
                        "sms": "Domanda {{ event.case_number }}.",
                    },
                },
            },
        ]
    }
)
SL = Subscriber(1, "42", None, None, EventsLevel.ALL, "sl")


def values(seconds: int, event_type: str) -> dict[str, Any]:
    return load_values(
        dump_values(
            {
                "event_id": 100 + seconds,
                "event_type": event_type,
                "occurred_at": T0 + dt.timedelta(seconds=seconds),
                "case_id": "7",
                "case_number": "354-7/2026",
            }
        )
    )


def test_uses_events() -> None:
    assert uses_events("{% for e in events %}{{ e }}{% endfor %}")
    assert uses_events("{{ events | length }}")
    assert not uses_events("{{ event.case_number }}")
    assert not uses_events("{% for events in x %}{{ events }}{% endfor %}")  # its own variable
    assert not uses_events("{% broken")


def test_default_sms_is_every_text_on_its_own_line() -> None:
    members = [
        member(1, 0, body="Prva."),
        member(2, 10, body="Druga."),
        member(3, 20, body="Tretja."),
    ]
    rendered = render_group(members, Channel.SMS, RULES, SL)
    assert (rendered.body, rendered.how) == ("Prva.\nDruga.\nTretja.", "joined")


def test_default_email_joins_the_bodies_under_the_newest_subject() -> None:
    members = [
        member(1, 0, channel="email", subject="Prvi", body="Telo 1"),
        member(2, 5, channel="email", subject="Drugi", body="Telo 2"),
    ]
    rendered = render_group(members, Channel.EMAIL, RULES, SL)
    assert rendered.subject == "Drugi"
    assert rendered.body == f"Telo 1{EMAIL_SEPARATOR}Telo 2"
    assert rendered.body_html is None


def test_a_template_using_events_renders_them_all() -> None:
    members = [
        member(1, 0, event_type="VLOZ", values=values(0, "VLOZ")),
        member(2, 90, event_type="KLAS", kind="key", values=values(90, "KLAS")),
    ]
    sms = render_group(members, Channel.SMS, RULES, SL)
    assert (sms.body, sms.how) == ("Vloga 354-7/2026: VLOZ, KLAS", "events")
    email_members = [
        member(1, 0, channel="email", event_type="VLOZ", values=values(0, "VLOZ")),
        member(2, 90, channel="email", event_type="KLAS", values=values(90, "KLAS")),
    ]
    email = render_group(email_members, Channel.EMAIL, RULES, SL)
    assert email.subject == "2 novosti o vlogi 354-7/2026"
    assert email.body == "- Vloga je vložena (12:00)\n- Klasifikacija (12:01)"


def test_the_newest_events_template_decides() -> None:
    members = [
        member(1, 0, event_type="KLAS", values=values(0, "KLAS"), body="A"),
        member(2, 90, event_type="VLOZ", values=values(90, "VLOZ"), body="B"),
    ]
    assert render_group(members, Channel.SMS, RULES, SL).body == "A\nB"


def test_the_subscribers_language_with_fallback() -> None:
    members = [
        member(1, 0, event_type="VLOZ", values=values(0, "VLOZ"), body="A"),
        member(2, 90, event_type="KLAS", values=values(90, "KLAS"), body="B"),
    ]
    italian = Subscriber(1, "42", None, None, EventsLevel.ALL, "it")
    assert render_group(members, Channel.SMS, RULES, italian).body == "A\nB"  # it: no events
    hungarian = Subscriber(1, "42", None, None, EventsLevel.ALL, "hu")
    assert render_group(members, Channel.SMS, RULES, hungarian).body == (
        "Vloga 354-7/2026: VLOZ, KLAS"  # no hu templates: Slovenian
    )


def test_without_kept_values_or_rules_the_default_is_used() -> None:
    no_values = [
        member(1, 0, event_type="KLAS", body="A"),
        member(2, 9, event_type="KLAS", body="B"),
    ]
    assert render_group(no_values, Channel.SMS, RULES, SL).how == "joined"
    unknown = [
        member(1, 0, event_type="GONE", values=values(0, "GONE"), body="A"),
        member(2, 9, event_type="KLAS", values=values(9, "KLAS"), body="B"),
    ]
    assert render_group(unknown, Channel.SMS, RULES, SL).body == "A\nB"


def test_a_template_error_falls_back_to_the_default() -> None:
    broken = dict(values(9, "KLAS"))
    del broken["case_number"]
    members = [
        member(1, 0, event_type="KLAS", values=values(0, "KLAS"), body="A"),
        member(2, 9, event_type="KLAS", values=broken, body="B"),
    ]
    rendered = render_group(members, Channel.SMS, RULES, SL)
    assert (rendered.body, rendered.how) == ("A\nB", "joined")


# ---- event values survive the round trip through JSON ----


def test_event_values_round_trip() -> None:
    import uuid  # noqa: PLC0415
    from decimal import Decimal  # noqa: PLC0415

    original = {
        "n": 1,
        "s": "Žana Čuk",
        "none": None,
        "flag": True,
        "f": 1.5,
        "nan": float("nan"),
        "when": dt.datetime(2026, 5, 4, 10, 0, tzinfo=dt.UTC),
        "naive": dt.datetime(2026, 5, 4, 10, 0),  # noqa: DTZ001
        "day": dt.date(2026, 5, 4),
        "at": dt.time(10, 30),
        "amount": Decimal("123.40"),
        "id": uuid.UUID(int=5),
        "raw": b"\x01\x02",
        "list": [1, dt.date(2026, 1, 1)],
        "nested": {"k": Decimal("1")},
        "tricky": {"$type": "datetime", "value": "x", "more": 1},
    }
    back = load_values(dump_values(original))
    assert back["when"] == original["when"]
    assert back["naive"] == original["naive"]
    assert back["day"] == original["day"]
    assert back["at"] == original["at"]
    assert back["amount"] == Decimal("123.40")
    assert back["id"] == str(original["id"])
    assert back["raw"] == "0102"
    assert back["nan"] == "nan"
    assert back["list"] == [1, dt.date(2026, 1, 1)]
    assert back["nested"] == {"k": Decimal("1")}
    assert back["tricky"] == {"$type": "datetime", "value": "x", "more": 1}
    for key in ("n", "s", "none", "flag", "f"):
        assert back[key] == original[key]
