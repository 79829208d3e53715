"""SMS character sets: GSM 03.38 or UCS-2, segment counts, transliteration, truncation.

Slovenian č, š, ž (and ć, đ in names) are not in the GSM 03.38 default alphabet; a single one
of them turns the whole message into UCS-2, which holds 70 characters instead of 160
(67 instead of 153 per part of a concatenated message). This module tells which encoding a
text needs and how many parts it costs, rewrites a text into GSM-7 when asked, and shortens
a text to a number of parts.

Pure logic: no I/O, standard library only. National language shift tables are not used:
gateways and handsets support them unevenly.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "GSM7_BASIC_TABLE",
    "GSM7_ESCAPE",
    "GSM7_EXTENSION_CODES",
    "GSM7_PART",
    "GSM7_SINGLE",
    "UCS2_PART",
    "UCS2_SINGLE",
    "SmsEncoding",
    "SmsInfo",
    "analyse",
    "gsm7_length",
    "gsm7_runs",
    "is_gsm7",
    "transliterate",
    "truncate",
]


class SmsEncoding(enum.StrEnum):
    """Data coding of a short message."""

    GSM7 = "gsm7"
    UCS2 = "ucs2"


@dataclass(frozen=True)
class SmsInfo:
    """What a text costs as an SMS.

    `units` are GSM-7 septets (an extension-table character costs 2) or UTF-16 code units
    for UCS-2 (a character outside the BMP, e.g. an emoji, costs 2). An empty text is still
    one message, so `segments` is at least 1.
    """

    encoding: SmsEncoding
    units: int
    segments: int


# The GSM 03.38 default alphabet in code order 0x00-0x7F: the character at index i has code i.
# 0x1B is the escape to the extension table and is not a character of its own. This is the
# one copy of the table: the SMPP encoder (senders/smpp_text.py) takes its codes from here.
GSM7_ESCAPE = 0x1B
GSM7_BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# The extension table: each character is sent as the escape and this code, so costs two septets.
GSM7_EXTENSION_CODES: dict[str, int] = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
_GSM7_EXTENSION_CHARS = "".join(GSM7_EXTENSION_CODES)

_GSM7_BASIC = frozenset(GSM7_BASIC_TABLE) - {chr(GSM7_ESCAPE)}
_GSM7_EXTENSION = frozenset(GSM7_EXTENSION_CODES)
_GSM7 = _GSM7_BASIC | _GSM7_EXTENSION

# Capacity of a single message and of each part of a concatenated one (the 6-octet user
# data header for concatenation takes 7 septets or 3 UTF-16 code units).
GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67

_BMP_MAX = 0xFFFF

# Transliterations into GSM-7 that Unicode decomposition does not give (or gives badly).
# Every value consists of GSM-7 characters only. Đ is handled in transliterate() because
# its capitalisation depends on the neighbours.
_TRANSLIT: dict[str, str] = {
    # Slovenian, Croatian, Serbian Latin (č, š, ž, ć would also decompose; listed for clarity)
    "č": "c",
    "Č": "C",
    "š": "s",
    "Š": "S",
    "ž": "z",
    "Ž": "Z",
    "ć": "c",
    "Ć": "C",
    "đ": "dj",
    # Other Latin letters without a canonical decomposition
    "ł": "l",
    "Ł": "L",
    "ŀ": "l",
    "Ŀ": "L",
    "ð": "d",
    "Ð": "D",
    "þ": "th",
    "Þ": "Th",
    "œ": "oe",
    "Œ": "OE",
    "\N{LATIN SMALL LETTER DOTLESS I}": "i",
    "ħ": "h",
    "Ħ": "H",
    "ŧ": "t",
    "Ŧ": "T",
    "ŋ": "n",
    "Ŋ": "N",
    "ĸ": "k",
    "ƒ": "f",
    # Quotation marks and apostrophes
    "\N{LEFT SINGLE QUOTATION MARK}": "'",
    "\N{RIGHT SINGLE QUOTATION MARK}": "'",
    "\N{SINGLE LOW-9 QUOTATION MARK}": "'",
    "\N{SINGLE HIGH-REVERSED-9 QUOTATION MARK}": "'",
    "\N{SINGLE LEFT-POINTING ANGLE QUOTATION MARK}": "'",
    "\N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK}": "'",
    "\N{PRIME}": "'",
    "\N{ACUTE ACCENT}": "'",
    "\N{GRAVE ACCENT}": "'",
    "\N{MODIFIER LETTER APOSTROPHE}": "'",
    "\N{LEFT DOUBLE QUOTATION MARK}": '"',
    "\N{RIGHT DOUBLE QUOTATION MARK}": '"',
    "\N{DOUBLE LOW-9 QUOTATION MARK}": '"',
    "\N{DOUBLE HIGH-REVERSED-9 QUOTATION MARK}": '"',
    "\N{LEFT-POINTING DOUBLE ANGLE QUOTATION MARK}": '"',
    "\N{RIGHT-POINTING DOUBLE ANGLE QUOTATION MARK}": '"',
    "\N{DOUBLE PRIME}": '"',
    # Dashes and hyphens
    "\N{HYPHEN}": "-",
    "\N{NON-BREAKING HYPHEN}": "-",
    "\N{FIGURE DASH}": "-",
    "\N{EN DASH}": "-",
    "\N{EM DASH}": "-",
    "\N{HORIZONTAL BAR}": "-",
    "\N{MINUS SIGN}": "-",
    "\N{HYPHEN BULLET}": "-",
    # Punctuation and symbols
    "\N{HORIZONTAL ELLIPSIS}": "...",
    "\N{BULLET}": "*",
    "\N{TRIANGULAR BULLET}": "*",
    "\N{WHITE BULLET}": "*",
    "\N{BULLET OPERATOR}": "*",
    "\N{BLACK CIRCLE}": "*",
    "\N{BLACK SMALL SQUARE}": "*",
    "\N{MIDDLE DOT}": ".",
    "\N{FRACTION SLASH}": "/",
    "\N{DIVISION SLASH}": "/",
    "\N{DIVISION SIGN}": "/",
    "\N{MULTIPLICATION SIGN}": "x",
    "\N{PLUS-MINUS SIGN}": "+/-",
    "\N{LESS-THAN OR EQUAL TO}": "<=",
    "\N{GREATER-THAN OR EQUAL TO}": ">=",
    "\N{NOT EQUAL TO}": "!=",
    "\N{COPYRIGHT SIGN}": "(c)",
    "\N{REGISTERED SIGN}": "(R)",
    "\N{BROKEN BAR}": "|",
    # Control characters with an obvious GSM-7 counterpart
    "\t": " ",
    "\v": "\n",
    "\x85": "\n",
}

# Invisible characters that only steer rendering (zero-width space and joiners, bidi marks,
# soft hyphen, BOM, variation selectors, emoji tag characters): nothing was visible there.
_INVISIBLE = frozenset(
    ch
    for ch in [
        "\N{SOFT HYPHEN}",
        "\N{ARABIC LETTER MARK}",
        "\N{BYTE ORDER MARK}",
        *map(chr, range(0x200B, 0x2010)),  # ZWSP, ZWNJ, ZWJ, LRM, RLM
        *map(chr, range(0x202A, 0x202F)),  # bidi embeddings and overrides
        *map(chr, range(0x2060, 0x2070)),  # word joiner, invisible operators, bidi isolates
        *map(chr, range(0xFE00, 0xFE10)),  # variation selectors 1-16
        *map(chr, range(0xE0000, 0xE0080)),  # tags (subdivision flags)
    ]
    if unicodedata.category(ch) in ("Cf", "Mn")  # not the unassigned gaps in these ranges
)

_ZWJ = "\N{ZERO WIDTH JOINER}"


def _septets(ch: str) -> int:
    return 2 if ch in _GSM7_EXTENSION else 1


def _utf16_units(ch: str) -> int:
    return 2 if ord(ch) > _BMP_MAX else 1


class _Packer:
    """Greedy packing of characters into message parts, fed one character cost at a time.

    A character (an escape pair in GSM-7, a surrogate pair in UTF-16) is never split across
    parts, so a part may end one unit short and the count can exceed ceil(units / part).
    Greedy filling is optimal for splitting a sequence in order, hence the count is exact.
    """

    __slots__ = ("_fill", "_part", "_parts", "_single", "total")

    def __init__(self, single: int, part: int) -> None:
        self._single = single
        self._part = part
        self.total = 0
        self._parts = 1
        self._fill = 0

    def add(self, cost: int) -> None:
        self.total += cost
        if self._fill + cost > self._part:
            self._parts += 1
            self._fill = cost
        else:
            self._fill += cost

    def segments(self) -> int:
        return 1 if self.total <= self._single else self._parts

    def segments_with(self, costs: Iterable[int]) -> int:
        """Segments if `costs` were appended, leaving this packer unchanged."""
        total, parts, fill = self.total, self._parts, self._fill
        for cost in costs:
            total += cost
            if fill + cost > self._part:
                parts += 1
                fill = cost
            else:
                fill += cost
        return 1 if total <= self._single else parts


def _plain_segments(units: int, single: int, part: int) -> int:
    """Parts for a text of one-unit characters only (nothing can straddle a boundary)."""
    return 1 if units <= single else -(-units // part)


def _gsm7_packer() -> _Packer:
    return _Packer(GSM7_SINGLE, GSM7_PART)


def _ucs2_packer() -> _Packer:
    return _Packer(UCS2_SINGLE, UCS2_PART)


def is_gsm7(text: str) -> bool:
    """True if every character is in the GSM 03.38 default alphabet or its extension table."""
    return _GSM7.issuperset(text)


def gsm7_runs(text: str) -> list[tuple[str, bool]]:
    """The text cut into runs of GSM-7 characters (False) and of characters that force UCS-2
    (True), in order: what the console highlights."""
    runs: list[tuple[str, bool]] = []
    for ch in text:
        forces = ch not in _GSM7
        if runs and runs[-1][1] == forces:
            runs[-1] = (runs[-1][0] + ch, forces)
        else:
            runs.append((ch, forces))
    return runs


def gsm7_length(text: str) -> int:
    """Length of `text` in GSM-7 septets; extension-table characters count 2.

    Raises ValueError naming the first character that GSM-7 cannot carry.
    """
    length = 0
    for index, ch in enumerate(text):
        if ch not in _GSM7:
            raise ValueError(
                f"character {ch!r} (U+{ord(ch):04X}) at index {index} "
                "is not in the GSM 03.38 alphabet"
            )
        length += _septets(ch)
    return length


def analyse(text: str) -> SmsInfo:
    """Encoding, length in units and number of message parts of `text`."""
    # Fast path (every SMS the poller renders goes through here): counted with str methods;
    # only a long text holding two-unit characters, which may not straddle two parts, needs
    # the character-by-character packing below.
    if is_gsm7(text):
        escapes = sum(text.count(ch) for ch in _GSM7_EXTENSION_CHARS)
        units = len(text) + escapes
        if units <= GSM7_SINGLE or not escapes:
            return SmsInfo(SmsEncoding.GSM7, units, _plain_segments(units, GSM7_SINGLE, GSM7_PART))
        encoding, cost, packer = SmsEncoding.GSM7, _septets, _gsm7_packer()
    else:
        units = len(text.encode("utf-16-le", "surrogatepass")) // 2
        if units <= UCS2_SINGLE or units == len(text):
            return SmsInfo(SmsEncoding.UCS2, units, _plain_segments(units, UCS2_SINGLE, UCS2_PART))
        encoding, cost, packer = SmsEncoding.UCS2, _utf16_units, _ucs2_packer()
    for ch in text:
        packer.add(cost(ch))
    return SmsInfo(encoding=encoding, units=packer.total, segments=packer.segments())


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch).startswith("M")


def _transliterate_char(ch: str) -> str:
    """GSM-7 form of one character that is not GSM-7, not invisible and not a mark."""
    mapped = _TRANSLIT.get(ch)
    if mapped is not None:
        return mapped
    category = unicodedata.category(ch)
    if category == "Zs":
        return " "
    if category in ("Zl", "Zp"):
        return "\n"
    # Compatibility decomposition without the marks:
    # á -> a, ǅ -> Dz, ½ -> 1/2, ﬁ -> fi, fullwidth letters -> ASCII.
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not _is_mark(c))
    if base and base != ch and not base.isspace():
        pieces = [c if c in _GSM7 else _TRANSLIT.get(c, "") for c in base]
        if all(pieces):
            return "".join(pieces)
    return "?"


def _dj(text: str, index: int) -> str:
    """Đ as "DJ" inside an upper-case word (ĐURĐA), otherwise "Dj" (Đurđa)."""
    after = text[index + 1 : index + 2]
    before = text[index - 1 : index] if index > 0 else ""
    upper = after.isupper() or (not after.isalpha() and before.isupper())
    return "DJ" if upper else "Dj"


def transliterate(text: str) -> str:
    """Rewrite `text` so that it is GSM-7, keeping what GSM-7 already has (é, ä, ü, Ç, ...).

    č š ž ć -> c s z c, đ -> dj, other accented letters -> base letter, typographic quotes,
    dashes, ellipsis, bullets and unusual spaces -> ASCII. Invisible formatting characters
    (zero-width joiners, variation selectors, soft hyphens) are dropped and a combining mark
    merges into the letter before it; every other character without a GSM-7 form becomes
    "?", so the reader sees that something was there.
    """
    text = unicodedata.normalize("NFC", text)  # C + combining caron -> Č -> C
    out: list[str] = []
    for index, ch in enumerate(text):
        if ch in _GSM7:
            out.append(ch)
        elif ch in _INVISIBLE:
            continue
        elif _is_mark(ch):
            # A diacritic with no precomposed letter: its base was already written out.
            if not out or out[-1].isspace():
                out.append("?")
        elif ch == "Đ":
            out.append(_dj(text, index))
        else:
            out.append(_transliterate_char(ch))
    return "".join(out)


def _strip_tail(text: str) -> str:
    """`text` without trailing whitespace, punctuation and invisible format characters."""
    end = len(text)
    while end > 0:
        ch = text[end - 1]
        if not (ch.isspace() or unicodedata.category(ch)[0] == "P" or ch in _INVISIBLE):
            break
        end -= 1
    return text[:end]


def _inside_cluster(text: str, index: int) -> bool:
    """True if cutting before text[index] would split what the reader sees as one character."""
    if index <= 0 or index >= len(text):
        return False
    ch, before = text[index], text[index - 1]
    return (
        _is_mark(ch)  # combining accents, variation selectors
        or _ZWJ in (ch, before)  # emoji ZWJ sequences
        or 0x1F3FB <= ord(ch) <= 0x1F3FF  # emoji skin-tone modifiers
        or 0xE0000 <= ord(ch) <= 0xE007F  # emoji tag sequences
        or ("\ud800" <= before <= "\udbff" and "\udc00" <= ch <= "\udfff")  # surrogate pair
    )


def _fitting_prefixes(
    text: str, max_segments: int, gsm_ellipsis: str, ucs_ellipsis: str
) -> list[bool]:
    """fits[i]: does text[:i] plus the ellipsis for its encoding fit in `max_segments`?

    Computed incrementally for every cut point in one pass. Within one encoding the answer
    only goes from True to False as the prefix grows, so the pass stops at the first miss
    once the prefix is UCS-2 (it stays UCS-2) or once the prefix alone is too long.
    """
    gsm, ucs = _gsm7_packer(), _ucs2_packer()
    gsm_tail = [_septets(c) for c in gsm_ellipsis]
    ucs_tail = [_utf16_units(c) for c in ucs_ellipsis]
    # Every character costs at least one unit, and no encoding holds more than this.
    longest = max(GSM7_SINGLE, GSM7_PART * max_segments)
    prefix_is_gsm7 = True
    fits: list[bool] = []
    for index, ch in enumerate(text):
        if index > longest:
            break
        if prefix_is_gsm7:
            fits.append(gsm.segments_with(gsm_tail) <= max_segments)
        elif ucs.segments_with(ucs_tail) <= max_segments:
            fits.append(True)
        else:
            break
        if prefix_is_gsm7 and ch in _GSM7:
            gsm.add(_septets(ch))
        else:
            prefix_is_gsm7 = False
        ucs.add(_utf16_units(ch))
    return fits


def truncate(text: str, max_segments: int, ellipsis: str = "…") -> str:
    """Shorten `text` to at most `max_segments` message parts, ending in `ellipsis`.

    A text that fits is returned unchanged. Otherwise it is cut before the last whitespace
    that lets the cut text plus ellipsis fit (or, in one long word, after the last whole
    character that does), trailing whitespace and punctuation are removed and the ellipsis
    is appended. If the cut text is GSM-7 and the ellipsis is not, the ellipsis is
    transliterated ("…" -> "...") so it does not force UCS-2. The result minus the ellipsis
    is always a prefix of `text`.
    """
    if max_segments < 1:
        raise ValueError(f"max_segments must be at least 1, got {max_segments}")
    if analyse(text).segments <= max_segments:
        return text
    gsm_ellipsis = ellipsis if is_gsm7(ellipsis) else transliterate(ellipsis)
    if analyse(gsm_ellipsis).segments > max_segments:
        raise ValueError(
            f"ellipsis {ellipsis!r} alone does not fit in {max_segments} SMS segment(s)"
        )

    def finished(body: str) -> str | None:
        result = body + (gsm_ellipsis if is_gsm7(body) else ellipsis)
        return result if analyse(result).segments <= max_segments else None

    fits = _fitting_prefixes(text, max_segments, gsm_ellipsis, ellipsis)
    # Before the last whitespace that fits ...
    for index in range(len(fits) - 1, 0, -1):
        if fits[index] and text[index].isspace():
            body = _strip_tail(text[:index])
            if body and (result := finished(body)) is not None:
                return result
    # ... or, with no such whitespace, after the last whole character that fits.
    for index in range(len(fits) - 1, 0, -1):
        if fits[index] and not _inside_cluster(text, index):
            result = finished(_strip_tail(text[:index]))
            if result is not None:
                return result
    return gsm_ellipsis  # nothing of the text fits next to the ellipsis
