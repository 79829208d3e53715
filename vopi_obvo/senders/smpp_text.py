"""What an SMPP 3.4 submit_sm carries: encoded text, message parts, addresses, receipts. Pure.

GSM-7 texts go as data_coding 0 in the SMSC default alphabet (GSM 03.38, one septet per
octet, extension characters as ESC + code); anything else as data_coding 8 (UCS-2, UTF-16BE).
A text longer than one message is cut into parts exactly where sms_encoding counts them (never
inside an escape pair or a surrogate pair) and each part carries a concatenation user data
header (UDH: IEI 0x00, 8-bit reference), with esm_class UDHI set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vopi_obvo.messages import sms_encoding

DATA_CODING_GSM7 = 0x00
DATA_CODING_UCS2 = 0x08
ESM_CLASS_UDHI = 0x40
ESM_CLASS_RECEIPT = 0x04  # deliver_sm: an SMSC delivery receipt
MAX_PARTS = 255

_BASIC_CODES = {
    ch: code
    for code, ch in enumerate(sms_encoding.GSM7_BASIC_TABLE)
    if code != sms_encoding.GSM7_ESCAPE
}
_EXTENSION_CODES = sms_encoding.GSM7_EXTENSION_CODES
_ESCAPE = sms_encoding.GSM7_ESCAPE
_GSM7_SINGLE, _GSM7_PART = sms_encoding.GSM7_SINGLE, sms_encoding.GSM7_PART
_UCS2_SINGLE, _UCS2_PART = sms_encoding.UCS2_SINGLE, sms_encoding.UCS2_PART

# SMPP 3.4 message_state values (section 5.2.28) and the stat: words of receipt texts.
MESSAGE_STATES = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}
DELIVERED = "DELIVRD"
FINAL_FAILURES = frozenset({"EXPIRED", "DELETED", "UNDELIV", "UNKNOWN", "REJECTD"})

_RECEIPT_FIELD = re.compile(r"(id|stat|err):(\S*)", re.IGNORECASE)


def gsm7_encode(text: str) -> bytes:
    """GSM 03.38 septets, one per octet (unpacked); raises ValueError outside GSM-7."""
    out = bytearray()
    for index, ch in enumerate(text):
        code = _BASIC_CODES.get(ch)
        if code is not None:
            out.append(code)
        elif ch in _EXTENSION_CODES:
            out += bytes((_ESCAPE, _EXTENSION_CODES[ch]))
        else:
            raise ValueError(f"character {ch!r} at index {index} is not in GSM 03.38")
    return bytes(out)


@dataclass(frozen=True)
class SmppMessage:
    data_coding: int
    esm_class: int
    parts: tuple[bytes, ...]  # each short_message, UDH included when there are several


def _split(text: str, cost: dict[str, int] | None, single: int, part: int) -> list[str]:
    """Greedy split by units (septets or UTF-16 units), as sms_encoding counts parts."""

    def units(ch: str) -> int:
        if cost is not None:
            return cost.get(ch, 1)
        return 2 if ord(ch) > 0xFFFF else 1

    if sum(units(ch) for ch in text) <= single:
        return [text]
    pieces: list[str] = []
    current: list[str] = []
    fill = 0
    for ch in text:
        size = units(ch)
        if fill + size > part:
            pieces.append("".join(current))
            current, fill = [], 0
        current.append(ch)
        fill += size
    pieces.append("".join(current))
    return pieces


def build_message(text: str, reference: int) -> SmppMessage:
    """The short_message bytes of each part; `reference` (0-255) ties the parts together."""
    info = sms_encoding.analyse(text)
    if info.encoding is sms_encoding.SmsEncoding.GSM7:
        coding = DATA_CODING_GSM7
        pieces = _split(text, dict.fromkeys(_EXTENSION_CODES, 2), _GSM7_SINGLE, _GSM7_PART)
        encoded = [gsm7_encode(p) for p in pieces]
    else:
        coding = DATA_CODING_UCS2
        pieces = _split(text, None, _UCS2_SINGLE, _UCS2_PART)
        encoded = [p.encode("utf-16-be") for p in pieces]
    if len(encoded) == 1:
        return SmppMessage(coding, 0, (encoded[0],))
    if len(encoded) > MAX_PARTS:
        raise ValueError(f"the text needs {len(encoded)} parts; SMS allows {MAX_PARTS}")
    total, ref = len(encoded), reference & 0xFF
    parts = tuple(
        bytes((0x05, 0x00, 0x03, ref, total, number)) + body
        for number, body in enumerate(encoded, start=1)
    )
    return SmppMessage(coding, ESM_CLASS_UDHI, parts)


@dataclass(frozen=True)
class Address:
    ton: int
    npi: int
    value: str


def source_address(sender: str) -> Address:
    """A number (+386…) is international (TON 1, NPI 1 E.164); otherwise alphanumeric (TON 5)."""
    digits = sender.removeprefix("+")
    if digits.isdigit():
        return Address(1, 1, digits)
    return Address(5, 0, sender)


def destination_address(e164: str) -> Address:
    return Address(1, 1, e164.removeprefix("+"))


@dataclass(frozen=True)
class Receipt:
    message_id: str
    state: str  # DELIVRD, UNDELIV, … (MESSAGE_STATES values)
    error_code: str | None  # the network's error code, e.g. "012" or "GSM:0x22"

    @property
    def final(self) -> bool:
        return self.state == DELIVERED or self.state in FINAL_FAILURES


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("latin-1").rstrip("\0")
    return value.rstrip("\0")


def parse_receipt(
    short_message: bytes | str | None,
    receipted_message_id: bytes | str | None = None,
    message_state: int | None = None,
    network_error_code: bytes | None = None,
) -> Receipt | None:
    """The receipt in a deliver_sm: TLVs first (SMPP 3.4), else the text
    "id:… sub:… dlvrd:… submit date:… done date:… stat:DELIVRD err:000 text:…" (Appendix B)."""
    fields = {k.lower(): v for k, v in _RECEIPT_FIELD.findall(_text(short_message))}
    message_id = _text(receipted_message_id) or fields.get("id", "")
    state = MESSAGE_STATES.get(message_state or 0) or fields.get("stat", "").upper()
    if not message_id or not state:
        return None
    error: str | None = None
    if network_error_code and len(network_error_code) == 3:
        kinds = {1: "ANSI-136", 2: "IS-95", 3: "GSM"}
        kind = kinds.get(network_error_code[0], str(network_error_code[0]))
        error = f"{kind}:{int.from_bytes(network_error_code[1:], 'big')}"
    elif fields.get("err") and fields["err"].strip("0"):
        error = fields["err"]
    return Receipt(message_id, state, error)
