"""The e-mail bytes OBVO writes itself: what a receiving server parses back from them."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from hypothesis import given, settings
from hypothesis import strategies as st

from vopi_obvo.config import EmailSettings
from vopi_obvo.senders import OutgoingMessage, mime
from vopi_obvo.senders.email import EmailBuilder


def parse(data: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def header_lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=300))
def test_any_subject_comes_back_as_written(subject: str) -> None:
    data = (mime.header("Subject", subject) + "\r\n\r\nx\r\n").encode("ascii")
    # Longer only where one word of ASCII is longer than a line.
    assert all(
        len(line) <= mime.MAX_LINE or len(line.removeprefix(b"Subject:").split()) == 1
        for line in header_lines(data)
    )
    assert parse(data)["Subject"] == " ".join(subject.split())


def test_ascii_words_stay_readable_and_runs_of_others_are_encoded() -> None:
    folded = mime.header("Subject", "Vloga 354-7/2026: odločba je izdana \N{EN DASH} žig")
    assert folded.split() == [
        "Subject:",
        "Vloga",
        "354-7/2026:",
        "=?utf-8?q?odlo=C4=8Dba?=",
        "je",
        "izdana",
        "=?utf-8?q?=E2=80=93_=C5=BEig?=",
    ]


def test_text_that_looks_encoded_is_encoded_so_it_is_shown_as_written() -> None:
    data = (mime.header("Subject", "=?utf-8?q?x?= ni kodirano") + "\r\n\r\n").encode("ascii")
    assert parse(data)["Subject"] == "=?utf-8?q?x?= ni kodirano"


def test_display_names_are_quoted_or_encoded() -> None:
    for name in ("Občina Šentjur, d.o.o.", 'Urad "Koper"', "Pisarna", "Občina (glavna)"):
        data = (mime.fold("From", [mime.address(name, "a@b.si")]) + "\r\n\r\n").encode("ascii")
        parsed = parse(data)["From"].addresses[0]
        assert (parsed.display_name, parsed.addr_spec) == (name, "a@b.si")


def test_long_lines_go_quoted_printable_short_ones_as_they_are() -> None:
    long_line = "Spoštovani, " + "zelo dolga vrstica " * 10
    data = mime.alternative(["Subject: x"], long_line, "<p>kratko</p>", [])
    parsed = parse(data)
    plain, html = parsed.iter_parts()
    assert plain["Content-Transfer-Encoding"] == "quoted-printable"
    assert html["Content-Transfer-Encoding"] == "7bit"
    assert plain.get_content().replace("\r\n", "\n") == long_line + "\n"
    assert all(len(line) <= mime.MAX_LINE for line in data.split(b"\r\n"))


SETTINGS = EmailSettings(
    sender="Mestna občina Koper <obvestila@koper.si>",
    reply_to="Glavna pisarna <pisarna@koper.si>",
    unsubscribe_secret="0123456789abcdef0123456789abcdef",
)


def message(**overrides: object) -> OutgoingMessage:
    values: dict[str, object] = {
        "notification_id": 9,
        "recipient": "ana@example.si",
        "subject": "Prejeli smo vašo vlogo",
        "body": "Spoštovani,\n\nvlogo smo prejeli.\n",
        "key_event": False,
        "subscriber_id": 3,
    }
    return OutgoingMessage(**(values | overrides))  # type: ignore[arg-type]


def test_the_written_message_parses_to_the_same_message_the_email_package_builds() -> None:
    builder = EmailBuilder(SETTINGS, "https://portal.koper.si")
    written = parse(builder.outbound(message()).data or b"")
    reference = parse(builder._email_message(message()).as_bytes(policy=email.policy.SMTP))
    for name in (
        "From",
        "To",
        "Subject",
        "Message-ID",
        "Reply-To",
        "Auto-Submitted",
        "X-Auto-Response-Suppress",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "Content-Language",
    ):
        assert written[name] == reference[name], name
    for kind in ("plain", "html"):
        ours, theirs = written.get_body((kind,)), reference.get_body((kind,))
        assert ours is not None and theirs is not None
        assert ours.get_content() == theirs.get_content()


def test_an_internationalised_recipient_goes_through_the_email_package() -> None:
    outbound = EmailBuilder(SETTINGS).outbound(message(recipient="ančka@primer.si"))
    assert outbound.data is None and outbound.message is not None
    assert outbound.message["To"] == "ančka@primer.si"
