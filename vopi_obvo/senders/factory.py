"""The senders a configuration asks for: SMTP, and one SMS gateway or two with failover."""

from __future__ import annotations

from vopi_obvo.config import Settings, SmsGatewaySettings
from vopi_obvo.senders import Sender
from vopi_obvo.senders.email import EmailSender
from vopi_obvo.senders.failover import FailoverSender
from vopi_obvo.senders.sms_http import HttpSmsSender
from vopi_obvo.senders.sms_log import LogSmsSender


def gateway_sender(settings: Settings, backend: str, gateway: SmsGatewaySettings) -> Sender:
    if backend == "http":
        return HttpSmsSender(gateway, settings.sms.sender)
    if backend == "smpp":
        from vopi_obvo.senders.smpp import smpp_sender  # noqa: PLC0415 - smpplib only if used

        return smpp_sender(settings, gateway)
    return LogSmsSender()


def sms_sender(settings: Settings) -> Sender:
    primary = gateway_sender(settings, settings.sms.backend, settings.sms)
    fallback = settings.sms_fallback
    if fallback.backend == "none":
        return primary
    return FailoverSender(
        primary,
        gateway_sender(settings, fallback.backend, fallback),
        failover_after=settings.sms.failover_after,
        probe_after=settings.sms.failover_probe_after,
        names=(settings.sms.url, fallback.url),
    )


def build_senders(settings: Settings) -> dict[str, Sender]:
    email = EmailSender(settings.email, public_url=settings.portal.public_url)
    return {"email": email, "sms": sms_sender(settings)}
