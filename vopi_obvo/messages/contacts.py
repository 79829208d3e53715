"""Citizens' e-mail addresses and mobile numbers: validated and normalised before storing.

The validating libraries are imported where addresses are checked (the CLI, the portal, the
console): the daemon only masks contacts for its log lines, and starts without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vopi_obvo.errors import InvalidInput
from vopi_obvo.problems import Problem

if TYPE_CHECKING:
    import phonenumbers

DEFAULT_REGION = "SI"


def _sms_capable(parsed: phonenumbers.PhoneNumber) -> bool:
    import phonenumbers  # noqa: PLC0415 - see the module's docstring

    return phonenumbers.number_type(parsed) in {
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    }


def normalise_email(address: str) -> str:
    """A syntactically valid address (no DNS look-up: the daemon must not depend on it)."""
    import email_validator  # noqa: PLC0415 - see the module's docstring

    candidate = address.strip()
    if not candidate:
        raise InvalidInput(Problem("contact.email_empty"))
    try:
        result = email_validator.validate_email(candidate, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        raise InvalidInput(
            Problem("contact.email_invalid", {"value": candidate, "detail": str(exc)})
        ) from None
    return str(result.normalized)


def normalise_phone(number: str, region: str = DEFAULT_REGION) -> str:
    """E.164 form of a mobile number; Slovenian national forms (`041 123 456`) are accepted."""
    import phonenumbers  # noqa: PLC0415 - see the module's docstring

    candidate = number.strip()
    if not candidate:
        raise InvalidInput(Problem("contact.phone_empty"))
    if any(ch.isalpha() for ch in candidate):
        # phonenumbers would read letters as a keypad "vanity" number: 041 ABC DEF → 222 333.
        raise InvalidInput(Problem("contact.phone_letters", {"value": number}))
    if candidate.startswith("00"):
        candidate = "+" + candidate[2:]
    try:
        parsed = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(
            Problem("contact.phone_unreadable", {"value": number, "detail": exc._msg})
        ) from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput(Problem("contact.phone_invalid", {"value": number}))
    if not _sms_capable(parsed):
        raise InvalidInput(Problem("contact.phone_not_mobile", {"value": number}))
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def mask_email(address: str | None) -> str:
    """For logs: `a***@example.si`; never a citizen's address in clear."""
    if not address:
        return ""
    local, _, domain = address.partition("@")
    return f"{local[:1] if len(local) > 1 else ''}***@{domain}"


def mask_phone(number: str | None) -> str:
    """For logs: `+38640***222`."""
    if not number:
        return ""
    if len(number) <= 8:
        return number[:2] + "***"
    head = min(6, len(number) - 6)  # never more than half of the digits in clear
    return f"{number[:head]}***{number[-3:]}"


def mask_recipient(address: str | None) -> str:
    return mask_email(address) if address and "@" in address else mask_phone(address)
