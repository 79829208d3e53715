"""Delivery channels. Each sender turns one message into a provider id or a classified error."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


class SendError(Exception):
    """A message could not be handed over; `permanent` decides retry or fail."""

    permanent: bool = False
    configuration: bool = False  # about OBVO's own set-up, not this message (see below)


class TemporaryFailure(SendError):
    """Worth trying again later: server down, timeout, 4xx SMTP, 5xx HTTP."""


class Throttled(TemporaryFailure):
    """The provider asks us to send slower (HTTP 429, SMPP ESME_RTHROTTLED): the message was
    not taken and is not at fault; the channel slows down and it goes again soon."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds, when the provider said (Retry-After)


class NotAttempted(SendError):
    """The message was not handed over at all (the process is stopping): it goes back to
    pending as it was, the attempt not counted."""


class PermanentFailure(SendError):
    """Trying again cannot help: SMTP 5xx, HTTP 4xx, an address the server rejects."""

    permanent = True


class ConfigurationFailure(TemporaryFailure):
    """The server refuses OBVO itself, not the message: our sender address, relaying, our
    credentials. Fixing the configuration lets every message through, so it is never a citizen's
    failure: not counted as an attempt, loud in the log and in `obvo status` until a send works.
    """

    configuration = True


@dataclass(frozen=True)
class OutgoingMessage:
    notification_id: int
    recipient: str
    subject: str | None
    body: str
    key_event: bool
    html: str | None = None  # the rendered email_html template, if the event type has one
    subscriber_id: int | None = None  # for the unsubscribe link
    language: str = "sl"


class Sender(Protocol):
    channel: str

    def send(self, message: OutgoingMessage) -> str | None:
        """Hand the message over; return the provider's id for it (or None)."""

    def close(self) -> None:
        """Release connections (end of a batch, or shutdown)."""


def shutdown_senders(senders: Iterable[Sender]) -> None:
    """Stop what outlives a batch (an SMPP session and its receipt listener) at process end.

    `close()` ends a batch; a sender with a long-lived session also has `shutdown()`.
    """
    for sender in senders:
        # Through wrappers that keep the sender they wrap as `inner` (lifecycle.TrackedSender).
        current: object = sender
        while current is not None:
            stop = getattr(current, "shutdown", None)
            if callable(stop):
                stop()
                break
            current = getattr(current, "inner", None)
