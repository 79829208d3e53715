"""GSM-7 / UCS-2 detection, segment counting, transliteration and truncation of SMS texts."""

from __future__ import annotations

import math
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vopi_obvo.messages.sms_encoding import (
    SmsEncoding,
    SmsInfo,
    analyse,
    gsm7_length,
    is_gsm7,
    transliterate,
    truncate,
)

# GSM 03.38 default alphabet, written independently of the module as Unicode code points
# (unicode.org MAPPINGS/ETSI/GSM0338.TXT); 0x1B, the escape, is left out.
GSM7_BASIC_CODE_POINTS = [
    0x40, 0xA3, 0x24, 0xA5, 0xE8, 0xE9, 0xF9, 0xEC, 0xF2, 0xC7, 0x0A, 0xD8, 0xF8, 0x0D, 0xC5, 0xE5,
    0x394, 0x5F, 0x3A6, 0x393, 0x39B, 0x3A9, 0x3A0, 0x3A8, 0x3A3, 0x398, 0x39E, 0xC6, 0xE6, 0xDF,
    0xC9, 0x20, 0x21, 0x22, 0x23, 0xA4, *range(0x25, 0x40), 0xA1, *range(0x41, 0x5B), 0xC4, 0xD6,
    0xD1, 0xDC, 0xA7, 0xBF, *range(0x61, 0x7B), 0xE4, 0xF6, 0xF1, 0xFC, 0xE0,
]  # fmt: skip
GSM7_BASIC = "".join(map(chr, GSM7_BASIC_CODE_POINTS))
GSM7_EXTENSION = "\f^{}\\[~]|\N{EURO SIGN}"
GSM7_ALL = GSM7_BASIC + GSM7_EXTENSION

EURO = "\N{EURO SIGN}"
ELLIPSIS = "\N{HORIZONTAL ELLIPSIS}"
EMOJI = "\N{GRINNING FACE}"  # outside the BMP: a surrogate pair in UTF-16

SENTENCE = (
    "Spoštovani, vaša vloga št. 354-12/2026 je bila dodeljena referentki Žani Čuk "
    "\N{EN DASH} \N{LEFT DOUBLE QUOTATION MARK}hitro\N{RIGHT DOUBLE QUOTATION MARK}."
)


# --- the alphabet ---------------------------------------------------------------------------


def test_reference_table_has_127_characters_plus_escape() -> None:
    assert len(GSM7_BASIC_CODE_POINTS) == 127
    assert len(set(GSM7_BASIC)) == 127


def test_gsm7_alphabet_is_exactly_basic_plus_extension() -> None:
    # Everything up to U+2100 covers Latin, Greek, punctuation and the euro sign.
    found = {ch for ch in map(chr, range(0x2100)) if is_gsm7(ch)}
    assert found == set(GSM7_ALL)


def test_escape_is_not_a_character() -> None:
    assert not is_gsm7("\x1b")
    assert not is_gsm7("abc\x1b")


@pytest.mark.parametrize("ch", list("čšžćđČŠŽĆĐ"))
def test_slovenian_letters_are_not_gsm7(ch: str) -> None:
    assert not is_gsm7(ch)
    assert analyse(ch).encoding is SmsEncoding.UCS2


def test_empty_text() -> None:
    assert is_gsm7("")
    assert gsm7_length("") == 0
    assert analyse("") == SmsInfo(SmsEncoding.GSM7, units=0, segments=1)


def test_encoding_is_a_str_enum() -> None:
    assert SmsEncoding("gsm7") is SmsEncoding.GSM7
    assert SmsEncoding("ucs2") is SmsEncoding.UCS2
    assert str(SmsEncoding.UCS2) == "ucs2"
    assert f"{SmsEncoding.GSM7}" == "gsm7"


# --- lengths --------------------------------------------------------------------------------


@pytest.mark.parametrize("ch", list(GSM7_EXTENSION))
def test_extension_characters_cost_two_septets(ch: str) -> None:
    assert gsm7_length(ch) == 2
    assert gsm7_length("a" + ch + "b") == 4
    assert analyse(ch) == SmsInfo(SmsEncoding.GSM7, units=2, segments=1)


def test_basic_characters_cost_one_septet() -> None:
    assert gsm7_length(GSM7_BASIC) == 127


def test_gsm7_length_rejects_non_gsm7_text() -> None:
    with pytest.raises(ValueError, match=r"'č' \(U\+010D\) at index 6"):
        gsm7_length("vloga č")


# --- segments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_ascii_segments(length: int, segments: int) -> None:
    assert analyse("a" * length) == SmsInfo(SmsEncoding.GSM7, units=length, segments=segments)


def test_slovenian_sentence_is_ucs2() -> None:
    info = analyse("Vloga je bila vložena")
    assert info == SmsInfo(SmsEncoding.UCS2, units=21, segments=1)


@pytest.mark.parametrize(
    ("length", "segments"),
    [(70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_ucs2_segments(length: int, segments: int) -> None:
    text = "ž" * length
    assert analyse(text) == SmsInfo(SmsEncoding.UCS2, units=length, segments=segments)


def test_one_slovenian_letter_turns_160_characters_into_three_parts() -> None:
    assert analyse("a" * 159 + "č").segments == 3  # 160 UTF-16 units / 67 per part


def test_euro_signs_fill_a_single_message() -> None:
    assert analyse(EURO * 80) == SmsInfo(SmsEncoding.GSM7, units=160, segments=1)
    # 162 septets: two parts of at most 76 euro signs (152 septets) each
    assert analyse(EURO * 81) == SmsInfo(SmsEncoding.GSM7, units=162, segments=2)


def test_euro_sign_is_not_split_at_a_part_boundary() -> None:
    # 306 septets would fit two parts of 153, but the escape pair cannot straddle them:
    # part 1 = 152 x "a" (153rd septet left empty), part 2 = € + 151 x "a", part 3 = "a".
    text = "a" * 152 + EURO + "a" * 152
    assert analyse(text) == SmsInfo(SmsEncoding.GSM7, units=306, segments=3)
    assert math.ceil(306 / 153) == 2
    # With the escape pair entirely in part 1 the simple formula holds.
    assert analyse("a" * 151 + EURO + "a" * 153).segments == 2


def test_emoji_counts_two_utf16_units() -> None:
    assert analyse(EMOJI) == SmsInfo(SmsEncoding.UCS2, units=2, segments=1)
    assert analyse(EMOJI * 35).segments == 1  # 70 units
    assert analyse(EMOJI * 36) == SmsInfo(SmsEncoding.UCS2, units=72, segments=2)


def test_surrogate_pair_is_not_split_at_a_part_boundary() -> None:
    # 134 units fit two parts of 67, but the pair cannot straddle them.
    text = "a" * 66 + EMOJI + "a" * 66
    assert analyse(text) == SmsInfo(SmsEncoding.UCS2, units=134, segments=3)
    assert analyse("a" * 65 + EMOJI + "a" * 67).segments == 2


def test_gsm7_text_with_one_emoji_becomes_ucs2() -> None:
    info = analyse("Hvala " + EMOJI + " {ok}")
    assert info.encoding is SmsEncoding.UCS2
    assert info.units == 13  # braces are one UTF-16 unit each in UCS-2


def _segments_by_simulation(costs: list[int], single: int, part: int) -> int:
    """Independent reference: fill parts one by one, a character never split."""
    if sum(costs) <= single:
        return 1
    parts: list[int] = [0]
    for cost in costs:
        if parts[-1] + cost > part:
            parts.append(0)
        parts[-1] += cost
    return len(parts)


@given(st.text(alphabet=st.sampled_from("a €{" + EMOJI + "č"), max_size=400))
def test_segments_match_reference_packing(text: str) -> None:
    info = analyse(text)
    if is_gsm7(text):
        costs = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        expected = _segments_by_simulation(costs, 160, 153)
        assert info.encoding is SmsEncoding.GSM7
    else:
        costs = [len(ch.encode("utf-16-le")) // 2 for ch in text]
        expected = _segments_by_simulation(costs, 70, 67)
        assert info.encoding is SmsEncoding.UCS2
    assert info.units == sum(costs)
    assert info.segments == expected
    # never fewer than the simple formula, at most one more per part boundary
    per_part = 153 if info.encoding is SmsEncoding.GSM7 else 67
    single = 160 if info.encoding is SmsEncoding.GSM7 else 70
    simple = 1 if info.units <= single else math.ceil(info.units / per_part)
    assert simple <= info.segments


# --- transliteration ------------------------------------------------------------------------


def test_transliterates_a_slovenian_sentence() -> None:
    result = transliterate(SENTENCE)
    assert result == (
        'Spostovani, vasa vloga st. 354-12/2026 je bila dodeljena referentki Zani Cuk - "hitro".'
    )
    assert analyse(result) == SmsInfo(SmsEncoding.GSM7, units=len(result), segments=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("čČšŠžŽćĆ", "cCsSzZcC"),
        ("đ", "dj"),
        ("Đ", "Dj"),
        ("Đurđa Đukić", "Djurdja Djukic"),
        ("ĐURĐA ĐUKIĆ", "DJURDJA DJUKIC"),
        ("Ljubljana\N{EN DASH}Zagreb\N{EM DASH}Beograd", "Ljubljana-Zagreb-Beograd"),
        ("‘a’ ‚b‛", "'a' 'b'"),  # noqa: RUF001 - the quotes are the point
        ("“a” „b‟ «c» ‹d›", '"a" "b" "c" \'d\''),  # noqa: RUF001 - the quotes are the point
        ("Počakajte…", "Pocakajte..."),
        ("• ena\n• dve", "* ena\n* dve"),
        ("10\N{NO-BREAK SPACE}€ in 5\N{NARROW NO-BREAK SPACE}%", "10 € in 5 %"),
        ("a\tb\N{EM SPACE}c\N{IDEOGRAPHIC SPACE}d", "a b c d"),
        ("áíóúý ÁÍÓÚÝ ăâîșț ő ű ç ł Ł", "aiouy AIOUY aaist o u c l L"),
        ("Grüße aus Österreich, señor, café, à la", "Grüße aus Österreich, señor, café, à la"),
        ("ÄÖÑÜÉÇØÅÆäöñüèéùìòåæøß", "ÄÖÑÜÉÇØÅÆäöñüèéùìòåæøß"),
        ("C\N{COMBINING CARON}uk", "Cuk"),  # decomposed input
        ("e\N{COMBINING ACUTE ACCENT}", "é"),  # composes to a GSM-7 letter
        ("q\N{COMBINING TILDE}", "q"),  # no precomposed letter: the accent merges
        ("½ ﬁ №", "1/2 fi No"),
        ("\N{FULLWIDTH LATIN CAPITAL LETTER H}\N{FULLWIDTH LATIN SMALL LETTER I}", "Hi"),
        ("œuvre Œ", "oeuvre OE"),
        ("© ® ™", "(c) (R) TM"),
        ("Привет", "??????"),
        ("中文", "??"),
        ("ok " + EMOJI, "ok ?"),
        ("\N{HEAVY BLACK HEART}\N{VARIATION SELECTOR-16}", "?"),
        ("\N{MAN}\N{ZERO WIDTH JOINER}\N{WOMAN}\N{ZERO WIDTH JOINER}\N{GIRL}", "???"),
        ("a\N{ZERO WIDTH SPACE}b\N{SOFT HYPHEN}c", "abc"),
        ("\x00\x1b\x7f", "???"),
        ("\N{DIAERESIS} \N{SMALL TILDE}", "? ?"),  # spacing accents alone
        ("\N{COMBINING ACUTE ACCENT}x", "?x"),
        ("{[€]}|^~\\\f", "{[€]}|^~\\\f"),
        ("line\N{LINE SEPARATOR}next\r\n", "line\nnext\r\n"),
        ("", ""),
    ],
)
def test_transliteration_examples(text: str, expected: str) -> None:
    assert transliterate(text) == expected


def test_transliteration_covers_whole_blocks() -> None:
    ranges = [(0, 0x3400), (0xA000, 0xD800), (0xE000, 0x10000), (0x1D400, 0x1D800)]
    ranges += [(0x1F000, 0x1FB00), (0xE0000, 0xE0100)]
    text = "".join(chr(cp) for low, high in ranges for cp in range(low, high))
    assert is_gsm7(transliterate(text))


@given(st.text(alphabet=st.characters(codec=None, exclude_categories=())))
def test_transliteration_is_always_gsm7(text: str) -> None:
    assert is_gsm7(transliterate(text))


@given(st.text())
def test_transliteration_is_always_gsm7_default_strategy(text: str) -> None:
    result = transliterate(text)
    assert is_gsm7(result)
    assert analyse(result).encoding is SmsEncoding.GSM7


@given(st.text(alphabet=st.sampled_from(GSM7_ALL)))
def test_gsm7_text_is_left_alone(text: str) -> None:
    assert transliterate(text) == text


@given(st.characters(codec=None, exclude_categories=()))
def test_only_invisible_characters_vanish(ch: str) -> None:
    # Never silently drop: a character disappears only if it was never visible
    # (zero-width joiners and spaces, bidi marks, variation selectors, tags, soft hyphen).
    if transliterate(ch) == "":
        assert unicodedata.category(ch) in {"Cf", "Mn"}


def test_transliterated_slovenian_saves_segments() -> None:
    text = "Vaša vloga je bila vložena in čaka na obravnavo. " * 3
    assert analyse(text).segments == 3
    assert analyse(transliterate(text)).segments == 1


# --- truncation -----------------------------------------------------------------------------


def _body(result: str) -> str:
    """`result` without the ellipsis truncate() appended."""
    ellipsis = "..." if is_gsm7(result) else ELLIPSIS
    assert result.endswith(ellipsis)
    return result[: -len(ellipsis)]


@pytest.mark.parametrize("max_segments", [0, -1])
def test_truncate_rejects_less_than_one_segment(max_segments: int) -> None:
    with pytest.raises(ValueError, match="max_segments must be at least 1"):
        truncate("text", max_segments)


def test_truncate_keeps_text_that_fits() -> None:
    assert truncate("a" * 160, 1) == "a" * 160
    assert truncate("ž" * 70, 1) == "ž" * 70
    assert truncate(SENTENCE, 2) == SENTENCE
    assert truncate("", 1) == ""


def test_truncate_gsm7_uses_three_dots() -> None:
    sentence = "Vasa vloga je bila vlozena. "
    result = truncate(sentence * 10, 1)
    assert result == sentence * 5 + "Vasa vloga je..."
    assert analyse(result) == SmsInfo(SmsEncoding.GSM7, units=156, segments=1)


def test_truncate_cuts_at_word_boundary_and_strips_punctuation() -> None:
    words = "Vloga, oddana. " * 20  # GSM-7, 300 septets
    result = truncate(words, 1)
    assert result == "Vloga, oddana. " * 10 + "Vloga..."
    assert gsm7_length(result) == 158


def test_truncate_ucs2_uses_unicode_ellipsis() -> None:
    text = "Vaša vloga št. 12 je bila vložena. " * 5
    result = truncate(text, 1)
    assert result.endswith(ELLIPSIS)
    info = analyse(result)
    assert info.encoding is SmsEncoding.UCS2
    assert info.segments == 1
    assert info.units <= 70
    sentence = "Vaša vloga št. 12 je bila vložena"
    assert result == f"{sentence}. {sentence}{ELLIPSIS}"


def test_truncate_prefix_may_fall_back_to_gsm7() -> None:
    # The only non-GSM-7 character is past the cut, so the cut text is GSM-7 and gets 160.
    text = "ok " * 60 + "čaka"
    result = truncate(text, 1)
    assert is_gsm7(result)
    assert result == "ok " * 51 + "ok..."
    assert analyse(result) == SmsInfo(SmsEncoding.GSM7, units=158, segments=1)


def test_truncate_one_long_word_cuts_at_last_character() -> None:
    assert truncate("x" * 500, 1) == "x" * 157 + "..."
    assert truncate("ž" * 500, 1) == "ž" * 69 + ELLIPSIS
    assert truncate("ž" * 500, 2) == "ž" * 133 + ELLIPSIS


def test_truncate_does_not_split_escape_pairs() -> None:
    result = truncate(EURO * 200, 1)
    assert result == EURO * 78 + "..."
    assert analyse(result) == SmsInfo(SmsEncoding.GSM7, units=159, segments=1)


def test_truncate_does_not_split_surrogate_pairs() -> None:
    result = truncate(EMOJI * 100, 1)
    assert result == EMOJI * 34 + ELLIPSIS
    assert analyse(result).units == 69


def test_truncate_does_not_split_a_letter_from_its_accent() -> None:
    result = truncate("q\N{COMBINING TILDE}" * 100, 1)
    assert result == "q\N{COMBINING TILDE}" * 34 + ELLIPSIS


def test_truncate_custom_ellipsis() -> None:
    # the brackets are extension characters: the ellipsis costs 8 septets
    assert truncate("a " * 100, 1, ellipsis=" [...]") == "a " * 75 + "a [...]"
    assert truncate("a " * 100, 1, ellipsis="") == "a " * 79 + "a"
    # a non-GSM-7 custom ellipsis is transliterated for GSM-7 text
    assert truncate("a " * 100, 1, ellipsis=" \N{RIGHTWARDS ARROW}").endswith(" ?")


def test_truncate_rejects_ellipsis_longer_than_the_limit() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        truncate("a" * 500, 1, ellipsis="." * 161)


TRUNCATION_TEXT = st.lists(
    st.text(
        alphabet=st.sampled_from("abcčšž€{.,!" + EMOJI + "\N{COMBINING ACUTE ACCENT}"),
        min_size=1,
        max_size=25,
    )
    | st.text(max_size=5),
    max_size=60,
).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(TRUNCATION_TEXT, st.integers(min_value=1, max_value=5))
def test_truncate_fits_and_keeps_a_prefix(text: str, max_segments: int) -> None:
    result = truncate(text, max_segments)
    assert analyse(result).segments <= max_segments
    if analyse(text).segments <= max_segments:
        assert result == text
    else:
        assert text.startswith(_body(result))


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab č€"), min_size=700, max_size=900))
def test_truncate_long_texts(text: str) -> None:
    for max_segments in (1, 3):
        result = truncate(text, max_segments)
        assert analyse(result).segments <= max_segments
        assert text.startswith(_body(result))
