"""What an exception means for one notification. Pure.

A sender reports the expected failures as SendError (temporary or permanent). Anything else
raised while one message was handed over (a bug, an encoding error, a protocol library's own
exception) must not stop the daemon: it becomes that message's failed attempt, classified here.
"""

from __future__ import annotations

from vopi_obvo.senders import PermanentFailure, SendError, TemporaryFailure


def unexpected_failure(exc: Exception) -> SendError:
    """A sender's unexpected exception as a classified failure. Encoding and value errors come
    from the message itself and repeat on every try: permanent. The rest (a connection cut the
    library did not expect, a bug that an upgrade may fix) are temporary; `attempts` only grows,
    so a message that keeps failing still reaches max_attempts."""
    text = f"{type(exc).__name__}: {exc}".strip()
    if isinstance(exc, UnicodeError | ValueError | TypeError | LookupError):
        return PermanentFailure(f"the message cannot be sent as it is: {text}")
    return TemporaryFailure(f"unexpected error while sending: {text}")


def db_text(text: str | None) -> str | None:
    """Texts from servers and gateways as PostgreSQL accepts them (no NUL characters)."""
    return None if text is None else text.replace("\x00", "\\0")


def first_line(exc: BaseException) -> str:
    """The first line of a (database) error: what a log line or last_error needs."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
