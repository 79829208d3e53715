"""A structlog processor that masks any e-mail address or phone number left in a log line.

Log calls mask the recipient they name (`to=a***@example.si`), but other values carry text
from outside: an SMTP server's refusal quotes the address (`550 <ana.kos@example.si>: no such
user`), a gateway's error echoes the number (often without the `+`), an exception's text, a
list of recipients, a dict of a request, a line of uvicorn or APScheduler (routed here by
ops/logsetup.py). This is the last guard before the line is written: every value, nested
values (lists, tuples, sets, dicts and their keys), exceptions and the event text itself are
masked, so a citizen's contact never reaches journald in clear.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, MutableMapping
from typing import Any

from vopi_obvo.messages.contacts import mask_email, mask_phone

_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
# E.164 with or without spaces (`+38641123456`, `+386 41 123 456`), the `00` international
# prefix, a bare international or national digit run as gateways echo it (`38641123456`,
# `041123456`), and the Slovenian national form with spaces (`041 123 456`, `01 234 56 78`).
_PHONE = re.compile(
    r"(?<![\w+])\+\d(?:[ ]?\d){7,14}(?!\d)"
    r"|(?<![\w.:/-])(?:00)?\d{8,15}(?![\w:/-]|\.\d)"
    r"|(?<![\w.:/-])0\d{1,2}(?:[ /]\d{2,4}){2,3}(?![\w:/-]|\.\d)"
)
# Values under these keys are OBVO's own identifiers (a notification, an event, a provider's
# message id): long digit runs there are not numbers of people. E-mail addresses and `+`
# numbers are masked in them all the same.
_ID_KEY = re.compile(r"(?:^|_)(?:id|ids|pid)$")
_E164 = re.compile(r"(?<![\w+])\+\d(?:[ ]?\d){7,14}(?!\d)")

# OBVO's own Message-IDs (`<obvo.42@koper.si>`, senders/email.py) name a notification, not a
# person: kept in clear so a line can be matched with the mail server's log.
_OWN_MESSAGE_ID = re.compile(r"obvo\.\d+@")

# Nested values deeper than this are shown as their masked text (a cycle cannot loop).
_MAX_DEPTH = 8


def _mask_address(match: re.Match[str]) -> str:
    found = match.group(0)
    return found if _OWN_MESSAGE_ID.match(found) else mask_email(found)


def _mask_number(match: re.Match[str]) -> str:
    return mask_phone(re.sub(r"[ /]", "", match.group(0)))


# Texts up to this long are remembered masked: a log line's short values repeat (channels,
# event names, masked recipients, the digits of ids), and each is two regular expressions.
_REMEMBER_UP_TO = 200
# The processors' own values, never text from outside (TimeStamper's ISO time).
_OWN_KEYS = frozenset({"timestamp"})


def mask_text(text: str, *, identifiers: bool = False) -> str:
    """Contacts in a text masked; with `identifiers`, bare digit runs are left alone."""
    if len(text) <= _REMEMBER_UP_TO:
        return _masked(text, identifiers)
    return _mask(text, identifiers)


def _mask(text: str, identifiers: bool) -> str:
    text = _EMAIL.sub(_mask_address, text) if "@" in text else text
    return (_E164 if identifiers else _PHONE).sub(_mask_number, text)


_masked = functools.lru_cache(maxsize=4096)(_mask)


@functools.lru_cache(maxsize=512)
def _identifier_key(key: str) -> bool:
    """Values under this key are OBVO's own identifiers (a line's keys repeat: remembered)."""
    return bool(_ID_KEY.search(key))


def mask_value(value: Any, *, identifiers: bool = False, depth: int = 0) -> Any:
    """A log value with every contact masked, nested values included; numbers, booleans and
    None as they are (JSON keeps their type), anything else as its masked text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return mask_text(value, identifiers=identifiers)
    if isinstance(value, bytes):
        return mask_text(value.decode("utf-8", "replace"), identifiers=identifiers)
    if depth >= _MAX_DEPTH:
        return mask_text(repr(value))
    if isinstance(value, Mapping):
        return {
            mask_value(k, depth=depth + 1): mask_value(
                v, identifiers=isinstance(k, str) and _identifier_key(k), depth=depth + 1
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [mask_value(v, identifiers=identifiers, depth=depth + 1) for v in value]
    if isinstance(value, BaseException):
        return mask_text(f"{type(value).__name__}: {value}")
    return mask_text(str(value), identifiers=identifiers)


def mask_contacts(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
    for key, value in list(event.items()):
        # structlog's own bookkeeping (the stdlib record, ...) and the processors' values
        if key.startswith("_") or key in _OWN_KEYS:
            continue
        event[key] = mask_value(value, identifiers=_identifier_key(key))
    return event
