"""SMS written to the log instead of a gateway: for trials and the demo, never production."""

from __future__ import annotations

import structlog

from vopi_obvo.messages.contacts import mask_phone
from vopi_obvo.senders import OutgoingMessage

log = structlog.get_logger("vopi_obvo.sms")


class LogSmsSender:
    channel = "sms"

    def send(self, message: OutgoingMessage) -> str | None:
        log.info(
            "sms.logged",
            notification_id=message.notification_id,
            to=mask_phone(message.recipient),
            text=message.body,
        )
        return f"log-{message.notification_id}"

    def close(self) -> None:
        """Nothing to release."""
