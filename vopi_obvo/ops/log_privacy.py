"""A structlog processor that masks any e-mail address or E.164 number left in a log value.

Log calls mask the recipient they name (`to=a***@example.si`), but other values carry text
from outside: an SMTP server's refusal quotes the address (`550 <ana.kos@example.si>: no such
user`), a gateway's error may echo the number. This is the last guard before the line is
written: a citizen's contact never reaches journald in clear.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

from vopi_obvo.messages.contacts import mask_email, mask_phone

_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w+])\+\d{8,15}(?!\d)")


# OBVO's own Message-IDs (`<obvo.42@koper.si>`, senders/email.py) name a notification, not a
# person: kept in clear so a line can be matched with the mail server's log.
_OWN_MESSAGE_ID = re.compile(r"obvo\.\d+@")


def _mask_address(match: re.Match[str]) -> str:
    found = match.group(0)
    return found if _OWN_MESSAGE_ID.match(found) else mask_email(found)


def mask_text(text: str) -> str:
    text = _EMAIL.sub(_mask_address, text)
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


def mask_contacts(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
    for key, value in event.items():
        if isinstance(value, str) and key != "event":
            event[key] = mask_text(value)
    return event
