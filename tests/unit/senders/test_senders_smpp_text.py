"""smpp_text.py: GSM 03.38 bytes, UCS-2, parts with UDH exactly as sms_encoding counts them,
addresses, and delivery receipts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vopi_obvo.messages import sms_encoding
from vopi_obvo.senders.smpp_text import (
    DATA_CODING_GSM7,
    DATA_CODING_UCS2,
    ESM_CLASS_UDHI,
    Address,
    Receipt,
    build_message,
    destination_address,
    gsm7_encode,
    parse_receipt,
    source_address,
)

GSM_CHARS = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCXYZÄÖÑÜ§¿abcxyzäöñüà^{}\\[~]|€"
)
gsm_text = st.text(alphabet=GSM_CHARS, max_size=700)
any_text = st.text(max_size=400)


def decode_gsm7(data: bytes) -> str:
    table = (
        "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
        "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
    )
    extension = {
        0x0A: "\f",
        0x14: "^",
        0x28: "{",
        0x29: "}",
        0x2F: "\\",
        0x3C: "[",
        0x3D: "~",
        0x3E: "]",
        0x40: "|",
        0x65: "€",
    }
    out, escape = [], False
    for byte in data:
        if escape:
            out.append(extension[byte])
            escape = False
        elif byte == 0x1B:
            escape = True
        else:
            out.append(table[byte])
    assert not escape, "an escape at the end of a part"
    return "".join(out)


def payloads(text: str) -> tuple[int, list[bytes], list[bytes]]:
    message = build_message(text, reference=0x1234)
    if len(message.parts) == 1:
        assert message.esm_class == 0
        return message.data_coding, [b""], list(message.parts)
    assert message.esm_class == ESM_CLASS_UDHI
    return message.data_coding, [p[:6] for p in message.parts], [p[6:] for p in message.parts]


def test_gsm7_bytes_of_the_basic_and_extension_tables() -> None:
    assert gsm7_encode("@A€{") == bytes((0x00, 0x41, 0x1B, 0x65, 0x1B, 0x28))
    assert gsm7_encode("ÄÖÑÜ§¿äöñüà") == bytes(
        (0x5B, 0x5C, 0x5D, 0x5E, 0x5F, 0x60, 0x7B, 0x7C, 0x7D, 0x7E, 0x7F)
    )
    with pytest.raises(ValueError, match="'č' at index 1"):
        gsm7_encode("ač")


@given(gsm_text)
def test_gsm7_parts_match_the_segment_count_and_decode_back(text: str) -> None:
    coding, udhs, bodies = payloads(text)
    assert coding == DATA_CODING_GSM7
    assert len(bodies) == sms_encoding.analyse(text).segments
    assert "".join(decode_gsm7(b) for b in bodies) == text
    if len(bodies) > 1:
        assert all(len(b) <= 153 for b in bodies)  # septets, escapes never split
        assert udhs == [bytes((5, 0, 3, 0x34, len(bodies), n)) for n in range(1, len(bodies) + 1)]
    else:
        assert len(bodies[0]) <= 160


@given(any_text.filter(lambda t: not sms_encoding.is_gsm7(t)))
def test_ucs2_parts_match_the_segment_count_and_decode_back(text: str) -> None:
    coding, _udhs, bodies = payloads(text)
    assert coding == DATA_CODING_UCS2
    assert len(bodies) == sms_encoding.analyse(text).segments
    assert b"".join(bodies).decode("utf-16-be") == text
    for body in bodies:
        body.decode("utf-16-be")  # no surrogate pair is split between parts
        assert len(body) <= (140 if len(bodies) == 1 else 134)


def test_slovenian_text_is_ucs2_in_parts() -> None:
    text = "Spoštovani, vaša vloga za gradbeno dovoljenje je bila uvrščena v obravnavo. " * 2
    coding, udhs, bodies = payloads(text)
    assert coding == DATA_CODING_UCS2
    assert len(bodies) == 3
    assert [u[4:] for u in udhs] == [bytes((3, 1)), bytes((3, 2)), bytes((3, 3))]


def test_too_many_parts_is_refused() -> None:
    with pytest.raises(ValueError, match="needs 256 parts"):
        build_message("a" * 153 * 256, 1)


@pytest.mark.parametrize(
    ("sender", "address"),
    [
        ("KOPER", Address(5, 0, "KOPER")),
        ("Obcina 1", Address(5, 0, "Obcina 1")),
        ("+38656646100", Address(1, 1, "38656646100")),
        ("38656646100", Address(1, 1, "38656646100")),
    ],
)
def test_source_address(sender: str, address: Address) -> None:
    assert source_address(sender) == address


def test_destination_is_international() -> None:
    assert destination_address("+38641123456") == Address(1, 1, "38641123456")


def test_receipt_from_tlvs() -> None:
    receipt = parse_receipt(b"", b"abc123\0", 5, bytes((3, 0, 34)))
    assert receipt == Receipt("abc123", "UNDELIV", "GSM:34")
    assert receipt.final


def test_receipt_from_text() -> None:
    text = (
        b"id:0A1B sub:001 dlvrd:001 submit date:2611281200 done date:2611281201"
        b" stat:DELIVRD err:000 text:Vloga"
    )
    assert parse_receipt(text) == Receipt("0A1B", "DELIVRD", None)
    assert parse_receipt(text.replace(b"DELIVRD err:000", b"EXPIRED err:012")) == Receipt(
        "0A1B", "EXPIRED", "012"
    )


def test_intermediate_and_unreadable_receipts() -> None:
    receipt = parse_receipt(b"id:9 stat:ENROUTE err:000")
    assert receipt is not None
    assert not receipt.final
    assert parse_receipt(b"hello") is None
