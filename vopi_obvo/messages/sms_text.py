"""The SMS text policy: what a rendered SMS becomes before it is stored and sent.

`[sms] transliterate` rewrites characters outside GSM-7 (č → c, „…" → "...") so the message
stays in the 160-character alphabet; `[sms] max_segments` shortens a longer text at a word
boundary with an ellipsis. The result carries its encoding and segment count, stored on the
notification: that is what the municipality pays for.

Pure logic on top of `sms_encoding`.
"""

from __future__ import annotations

from dataclasses import dataclass

from vopi_obvo.messages.sms_encoding import SmsEncoding, analyse, transliterate, truncate

__all__ = ["PreparedSms", "SmsPolicy", "prepare_sms"]

ELLIPSIS = "\N{HORIZONTAL ELLIPSIS}"


@dataclass(frozen=True)
class SmsPolicy:
    transliterate: bool = False
    max_segments: int = 3


@dataclass(frozen=True)
class PreparedSms:
    text: str
    encoding: SmsEncoding
    segments: int
    # Segments the rendered text would have cost as it stood (before transliteration and
    # shortening): for `rules apply` warnings and logs.
    original_segments: int
    transliterated: bool
    shortened: bool


def prepare_sms(text: str, policy: SmsPolicy) -> PreparedSms:
    """Transliterate (if the policy says so), then shorten to `max_segments` parts."""
    original = analyse(text)
    result, info = text, original
    if policy.transliterate and original.encoding is SmsEncoding.UCS2:
        result = transliterate(text)
        info = analyse(result)
    shortened = info.segments > policy.max_segments
    if shortened:
        result = truncate(result, policy.max_segments, ELLIPSIS)
        info = analyse(result)
    return PreparedSms(
        text=result,
        encoding=info.encoding,
        segments=info.segments,
        original_segments=original.segments,
        transliterated=policy.transliterate and original.encoding is SmsEncoding.UCS2,
        shortened=shortened,
    )
