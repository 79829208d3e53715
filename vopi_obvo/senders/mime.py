"""The bytes of an e-mail, written directly: headers (RFC 5322, RFC 2047) and MIME parts. Pure.

Python's `email` package builds the same message through header objects, a policy and a
generator; for a typical notification that costs several milliseconds, most of it in header
folding. OBVO's messages have one fixed shape (multipart/alternative, plain text + HTML), so
they are written here in a fraction of that: ASCII words stay readable, each run of
non-ASCII words becomes one or more `=?utf-8?q?…?=` encoded-words, lines are folded at 78
characters, and each part gets the transfer encoding Python would choose (7bit, 8bit, or
quoted-printable for long lines). Addresses with non-ASCII characters (SMTPUTF8) are left to
the `email` package (see senders/email.py).
"""

from __future__ import annotations

import binascii
import secrets
from collections.abc import Sequence

MAX_LINE = 78
CRLF = "\r\n"
_WORD_START = "=?utf-8?q?"
_WORD_END = "?="
# An encoded-word may have 75 characters (RFC 2047 section 2); 64 keep `Subject: ` and the
# first word on one line of 78.
_WORD_TEXT = 64 - len(_WORD_START) - len(_WORD_END)
# Characters an encoded-word may carry as they are, also inside a phrase (RFC 2047 5(3)).
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")


def _q_char(char: str) -> str:
    if char == " ":
        return "_"
    data = char.encode("utf-8")
    if len(data) == 1 and data[0] in _Q_SAFE:
        return char
    return "".join(f"={byte:02X}" for byte in data)


# Each character's Q form, remembered (the texts of one municipality use few characters);
# bounded, since any character may come. Shared by the sending threads: a dict's get and set
# are atomic, and a race only computes a value twice.
_Q_CACHE: dict[str, str] = {}
_Q_CACHE_MAX = 4096


def encoded_words(text: str) -> list[str]:
    """`text` as Q encoded-words of at most 75 characters, split between characters (a
    decoder joins adjacent encoded-words without the whitespace between them)."""
    words: list[str] = []
    current = ""
    cache = _Q_CACHE
    for char in text:
        encoded = cache.get(char)
        if encoded is None:
            encoded = _q_char(char)
            if len(cache) < _Q_CACHE_MAX:
                cache[char] = encoded
        if len(current) + len(encoded) > _WORD_TEXT:
            words.append(_WORD_START + current + _WORD_END)
            current = ""
        current += encoded
    if current or not words:
        words.append(_WORD_START + current + _WORD_END)
    return words


def _needs_encoding(word: str) -> bool:
    return not word.isascii() or "=?" in word


def unstructured_tokens(value: str) -> list[str]:
    """An unstructured header value (Subject) as tokens to join with spaces: ASCII words as
    they are, each run of words that need encoding as encoded-words. Whitespace runs,
    including line breaks, become one space: a header value is one line."""
    tokens: list[str] = []
    run: list[str] = []
    for word in value.split():
        if _needs_encoding(word):
            run.append(word)
            continue
        if run:
            tokens += encoded_words(" ".join(run))
            run = []
        tokens.append(word)
    if run:
        tokens += encoded_words(" ".join(run))
    return tokens


_PHRASE_SPECIALS = frozenset('()<>[]:;@\\,."')


def address(display_name: str, addr: str) -> str:
    """`Name <addr>` (the name quoted or encoded as needed), or just addr without a name.
    The address itself must be ASCII (the caller sends SMTPUTF8 addresses another way)."""
    name = " ".join(display_name.split())
    if not name:
        return addr
    if _needs_encoding(name):
        return " ".join(encoded_words(name)) + f" <{addr}>"
    if any(c in _PHRASE_SPECIALS for c in name):
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{quoted}" <{addr}>'
    return f"{name} <{addr}>"


def fold(name: str, tokens: Sequence[str]) -> str:
    """`Name: token token …` folded before a token that would pass 78 characters. The first
    token stays beside the name (a parser may keep the whitespace before an encoded-word on
    a line of its own), and a token longer than a line stays whole (lines may reach 998)."""
    lines: list[str] = []
    line = f"{name}:"
    for index, token in enumerate(tokens):
        if index and len(line) + 1 + len(token) > MAX_LINE:
            lines.append(line)
            line = ""
        line += " " + token
    lines.append(line)
    return CRLF.join(lines)


def header(name: str, value: str) -> str:
    """A header of ASCII (or unstructured) text, encoded and folded."""
    return fold(name, unstructured_tokens(value))


def text_part(text: str, subtype: str) -> bytes:
    """One text/<subtype> part, UTF-8: 7bit or 8bit when every line fits, else
    quoted-printable (what Python's `email` chooses for such text)."""
    lines = text.encode("utf-8").splitlines()
    if max(map(len, lines), default=0) <= MAX_LINE:
        body = b"\r\n".join(lines) + b"\r\n"
        cte = "7bit" if body.isascii() else "8bit"
    else:
        cte = "quoted-printable"
        body = binascii.b2a_qp(b"\n".join(lines) + b"\n", istext=True).replace(b"\n", b"\r\n")
    head = f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}Content-Transfer-Encoding: {cte}'
    return (head + CRLF + CRLF).encode("ascii") + body


def alternative(headers: Sequence[str], plain: str, html: str, trailing: Sequence[str]) -> bytes:
    """The whole message: `headers` (already folded lines), MIME-Version and the
    multipart/alternative type, `trailing` headers, then the plain and the HTML part."""
    parts = [text_part(plain, "plain"), text_part(html, "html")]
    boundary = _boundary(parts)
    head = [
        *headers,
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative;{CRLF} boundary="{boundary}"',
        *trailing,
    ]
    # The line break before a delimiter belongs to the delimiter (RFC 2046 5.1.1): each part
    # keeps its own final line break.
    delimiter = f"{CRLF}--{boundary}{CRLF}".encode("ascii")
    out = [(CRLF.join(head) + CRLF + CRLF).encode("ascii")]
    for part in parts:
        out += [delimiter, part]
    out.append(f"{CRLF}--{boundary}--{CRLF}".encode("ascii"))
    return b"".join(out)


def _boundary(parts: Sequence[bytes]) -> str:
    while True:
        boundary = f"==============={secrets.randbelow(10**19):019d}=="
        if not any(boundary.encode("ascii") in part for part in parts):
            return boundary
