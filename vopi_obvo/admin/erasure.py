"""Taking a citizen's addresses out of stored texts (error messages of mail servers and SMS
gateways quote them: `550 5.1.1 <janez@example.si>: mailbox unavailable`). Pure logic."""

from __future__ import annotations

import re
from collections.abc import Iterable

ERASED = "[erased]"


def scrub(text: str, addresses: Iterable[str]) -> str:
    """`text` with every address replaced, whatever its case; a phone number also in its
    national (041…) and digits-only (38641…) forms."""
    result = text
    for address in sorted({a for a in addresses if a}, key=len, reverse=True):
        for form in _forms(address):
            result = re.sub(re.escape(form), ERASED, result, flags=re.IGNORECASE)
    return result


def _forms(address: str) -> list[str]:
    forms = [address]
    if address.startswith("+"):
        digits = address[1:]
        forms.append(digits)
        if digits.startswith("386") and len(digits) > 3:
            forms.append("0" + digits[3:])
    return sorted(set(forms), key=len, reverse=True)
