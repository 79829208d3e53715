"""The senders a configuration asks for: SMTP, and one SMS gateway or two with failover."""

from __future__ import annotations

from collections.abc import Callable

from vopi_obvo.config import Settings, SmsGatewaySettings
from vopi_obvo.delivery.pacing import Pacer
from vopi_obvo.senders import Sender
from vopi_obvo.senders.email import EmailSender
from vopi_obvo.senders.failover import FailoverSender
from vopi_obvo.senders.paced import PacedSender, sleep_then_go
from vopi_obvo.senders.sms_http import HttpSmsSender
from vopi_obvo.senders.sms_log import LogSmsSender

# Waits up to the given seconds; False when the process is stopping meanwhile.
Wait = Callable[[float], bool]


def gateway_sender(
    settings: Settings, backend: str, gateway: SmsGatewaySettings, wait: Wait = sleep_then_go
) -> Sender:
    """One gateway's sender, paced by its own max_per_second."""
    sender: Sender
    if backend == "http":
        sender = HttpSmsSender(gateway, settings.sms.sender)
    elif backend == "smpp":
        from vopi_obvo.senders.smpp import smpp_sender  # noqa: PLC0415 - smpplib only if used

        sender = smpp_sender(settings, gateway)
    else:
        sender = LogSmsSender()
    return PacedSender(sender, Pacer(gateway.max_per_second), wait)


def sms_sender(settings: Settings, wait: Wait = sleep_then_go) -> Sender:
    primary = gateway_sender(settings, settings.sms.backend, settings.sms, wait)
    fallback = settings.sms_fallback
    if fallback.backend == "none":
        return primary
    return FailoverSender(
        primary,
        gateway_sender(settings, fallback.backend, fallback, wait),
        failover_after=settings.sms.failover_after,
        probe_after=settings.sms.failover_probe_after,
        names=(settings.sms.url, fallback.url),
    )


def build_senders(settings: Settings, wait: Wait = sleep_then_go) -> dict[str, Sender]:
    email = EmailSender(settings.email, public_url=settings.portal.public_url)
    paced = PacedSender(email, Pacer(settings.email.max_per_second), wait)
    return {"email": paced, "sms": sms_sender(settings, wait)}
