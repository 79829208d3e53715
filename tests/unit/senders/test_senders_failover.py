"""failover.py: the second gateway after N temporary failures of the first, and back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from vopi_obvo.config import settings_from_mapping
from vopi_obvo.errors import ConfigError
from vopi_obvo.senders import OutgoingMessage, PermanentFailure, SendError, TemporaryFailure
from vopi_obvo.senders.failover import FailoverSender


@dataclass
class ScriptedGateway:
    """A gateway whose health the test sets: None = accepts, else the error it raises."""

    name: str
    error: SendError | None = None
    sent: list[int] = field(default_factory=list)
    tried: list[int] = field(default_factory=list)
    closed: int = 0
    shut_down: int = 0
    channel: str = "sms"

    def send(self, message: OutgoingMessage) -> str | None:
        self.tried.append(message.notification_id)
        if self.error is not None:
            raise self.error
        self.sent.append(message.notification_id)
        return f"{self.name}-{message.notification_id}"

    def close(self) -> None:
        self.closed += 1

    def shutdown(self) -> None:
        self.shut_down += 1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def msg(n: int) -> OutgoingMessage:
    return OutgoingMessage(n, "+38640123456", None, "Vloga prejeta", key_event=False)


def make(
    after: int = 3, probe: float = 60.0
) -> tuple[FailoverSender, ScriptedGateway, ScriptedGateway, Clock]:
    a, b, clock = ScriptedGateway("a"), ScriptedGateway("b"), Clock()
    return FailoverSender(a, b, failover_after=after, probe_after=probe, clock=clock), a, b, clock


def test_first_gateway_while_it_works() -> None:
    sender, _a, b, _ = make()
    assert [sender.send(msg(n)) for n in (1, 2)] == ["a-1", "a-2"]
    assert b.tried == []
    assert sender.active == "primary"


def test_fails_over_at_the_nth_consecutive_temporary_failure() -> None:
    sender, a, b, _ = make(after=3)
    a.error = TemporaryFailure("HTTP 503")
    for n in (1, 2):
        with pytest.raises(TemporaryFailure):
            sender.send(msg(n))  # retried later by the dispatcher
    assert b.tried == []
    assert sender.send(msg(3)) == "b-3"  # the third failure: this message goes to b at once
    assert sender.active == "fallback"
    assert sender.send(msg(4)) == "b-4"
    assert a.tried == [1, 2, 3]  # 4 did not wait for the broken gateway


def test_a_success_resets_the_count() -> None:
    sender, a, _b, _ = make(after=2)
    a.error = TemporaryFailure("timeout")
    with pytest.raises(TemporaryFailure):
        sender.send(msg(1))
    a.error = None
    sender.send(msg(2))
    a.error = TemporaryFailure("timeout")
    with pytest.raises(TemporaryFailure):
        sender.send(msg(3))  # 1 in a row again, not 2
    assert sender.active == "primary"


def test_permanent_failures_do_not_count() -> None:
    sender, a, b, _ = make(after=1)
    a.error = PermanentFailure("HTTP 400 invalid number")
    for n in (1, 2, 3):
        with pytest.raises(PermanentFailure):
            sender.send(msg(n))
    assert sender.active == "primary"
    assert b.tried == []


def test_probe_after_cooldown_and_back_when_recovered() -> None:
    sender, a, b, clock = make(after=1, probe=60.0)
    a.error = TemporaryFailure("down")
    assert sender.send(msg(1)) == "b-1"
    clock.now += 59.0
    assert sender.send(msg(2)) == "b-2"
    assert a.tried == [1]  # no probe before the cooldown
    clock.now += 1.0
    assert sender.send(msg(3)) == "b-3"  # probe failed: this message still goes out via b
    assert a.tried == [1, 3]
    clock.now += 30.0
    sender.send(msg(4))
    assert a.tried == [1, 3]  # next probe only 60 s after the failed one
    a.error = None
    clock.now += 30.0
    assert sender.send(msg(5)) == "a-5"  # recovered
    assert sender.active == "primary"
    assert sender.send(msg(6)) == "a-6"
    assert b.sent == [1, 2, 3, 4]


def test_errors_of_the_second_gateway_reach_the_dispatcher() -> None:
    sender, a, b, _ = make(after=1)
    a.error = TemporaryFailure("a down")
    b.error = TemporaryFailure("b down")
    with pytest.raises(TemporaryFailure, match="b down"):
        sender.send(msg(1))


def test_close_and_shutdown_reach_both() -> None:
    sender, a, b, _ = make()
    sender.close()
    sender.shutdown()
    assert (a.closed, b.closed, a.shut_down, b.shut_down) == (1, 1, 1, 1)


def config(**sections: dict[str, Any]) -> dict[str, Any]:
    return {
        "database": {"url": "postgresql://db/obvo"},
        "source": {"events_query": "SELECT 1", "parties_query": "SELECT :case_ids"},
        **sections,
    }


def test_fallback_section_and_its_environment_variables() -> None:
    s = settings_from_mapping(
        config(
            sms={"backend": "http", "url": "https://a.example/sms", "failover_after": 5},
            sms_fallback={"backend": "http", "url": "https://b.example/sms"},
        ),
        {"OBVO_SMS_FALLBACK_TOKEN": "b-token", "OBVO_SMS_TOKEN": "a-token"},
    )
    assert (s.sms.token, s.sms_fallback.token) == ("a-token", "b-token")
    assert s.sms.failover_after == 5
    assert s.sms_fallback.url == "https://b.example/sms"


def test_without_fallback_the_single_gateway_config_is_unchanged() -> None:
    s = settings_from_mapping(config(sms={"backend": "http", "url": "https://a.example/sms"}), {})
    assert s.sms_fallback.backend == "none"


@pytest.mark.parametrize(
    ("sections", "problem"),
    [
        (
            {"sms_fallback": {"backend": "http", "url": "https://b.example"}},
            "[sms_fallback] needs a real first gateway",
        ),
        (
            {
                "sms": {"backend": "http", "url": "https://a.example"},
                "sms_fallback": {"backend": "http", "url": "ftp://b"},
            },
            "[sms_fallback] url must be an http:// or https:// URL",
        ),
        (
            {"sms": {"backend": "http", "url": "https://a.example", "failover_after": 0}},
            "[sms] failover_after must be at least 1",
        ),
    ],
)
def test_bad_failover_settings(sections: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_mapping(config(**sections), {})
    assert problem in str(info.value)


def test_unknown_fallback_variable_is_still_an_error() -> None:
    with pytest.raises(ConfigError, match="OBVO_SMS_FALLBACK_TOKN"):
        settings_from_mapping(config(), {"OBVO_SMS_FALLBACK_TOKN": "x"})


def test_shutdown_reaches_through_wrappers() -> None:
    from vopi_obvo.senders import shutdown_senders  # noqa: PLC0415

    @dataclass
    class Wrapper:
        inner: Any
        channel: str = "sms"

    gateway = ScriptedGateway("a")
    shutdown_senders([Wrapper(Wrapper(gateway)), ScriptedGateway("plain")])  # type: ignore[list-item]
    assert gateway.shut_down == 1
