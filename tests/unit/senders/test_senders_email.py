"""The e-mail a citizen receives, built without a server: MIME parts, headers, HTML escaping."""

from __future__ import annotations

import email
import email.policy
import smtplib
from pathlib import Path
from typing import Any, cast

import pytest
from markupsafe import Markup

from vopi_obvo.config import EmailSettings, settings_from_mapping
from vopi_obvo.errors import ConfigError, RulesError, TemplateError
from vopi_obvo.messages import html_templates, unsubscribe
from vopi_obvo.rules import (
    Channel,
    EventKind,
    EventTypeRule,
    Subscriber,
    TemplateSet,
    parse_rules_document,
    render_message,
    rules_to_document,
)
from vopi_obvo.senders import OutgoingMessage
from vopi_obvo.senders import email as email_sender
from vopi_obvo.senders.email import EmailBuilder, build_email, unsubscribe_link

SECRET = "0123456789abcdef0123456789abcdef"
SETTINGS = EmailSettings(sender="Občina Šentjur <obvestila@sentjur.si>", unsubscribe_secret=SECRET)


def message(**overrides: Any) -> OutgoingMessage:
    values: dict[str, Any] = {
        "notification_id": 42,
        "recipient": "ana@example.si",
        "subject": "Vloga 354-7/2026: odločba je izdana \N{EN DASH} žig",
        "body": "Spoštovani,\n\nodločba je izdana.\nPodrobnosti: https://e-uprava.gov.si/x?a=1&b=2.",
        "key_event": False,
        "subscriber_id": 7,
    }
    return OutgoingMessage(**(values | overrides))


def roundtrip(msg: email.message.EmailMessage) -> email.message.EmailMessage:
    """What the receiving server parses: the bytes on the wire."""
    parsed = email.message_from_bytes(
        msg.as_bytes(policy=email.policy.SMTP), policy=email.policy.default
    )
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


# ---- MIME and headers ----


def test_plain_and_html_alternatives_with_encoded_headers() -> None:
    built = build_email(SETTINGS, message())
    wire = built.as_bytes(policy=email.policy.SMTP)
    head = wire.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert b"From: =?utf-8?q?Ob=C4=8Dina_=C5=A0entjur?= <obvestila@sentjur.si>" in head
    subject = head.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0]
    assert b"=?utf-8?" in subject
    parsed = roundtrip(built)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed["Subject"] == "Vloga 354-7/2026: odločba je izdana \N{EN DASH} žig"
    assert parsed["From"].addresses[0].display_name == "Občina Šentjur"
    assert parsed["Message-ID"] == "<obvo.42@sentjur.si>"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Content-Language"] == "sl"
    assert parsed["Reply-To"] is None


def test_message_id_domain_and_reply_to_are_configurable() -> None:
    settings = EmailSettings(
        sender="obvestila@sentjur.si",
        reply_to="Glavna pisarna <pisarna@sentjur.si>",
        message_id_domain="mail.sentjur.si",
    )
    parsed = roundtrip(build_email(settings, message()))
    assert parsed["Message-ID"] == "<obvo.42@mail.sentjur.si>"
    assert parsed["Reply-To"] == "Glavna pisarna <pisarna@sentjur.si>"


def test_plain_text_becomes_escaped_paragraphs_with_links() -> None:
    parsed = roundtrip(build_email(SETTINGS, message(body="A <b> & B\n\nhttps://x.si/a?b=1&c=2.")))
    html = parsed.get_body(("html",))
    assert html is not None
    text = html.get_content()
    assert "<p>A &lt;b&gt; &amp; B</p>" in text
    assert '<a href="https://x.si/a?b=1&amp;c=2">https://x.si/a?b=1&amp;c=2</a>.' in text


def test_rendered_html_is_used_as_it_is() -> None:
    parsed = roundtrip(build_email(SETTINGS, message(html="<p>Že <em>izdano</em></p>")))
    html = parsed.get_body(("html",))
    assert html is not None
    assert "<p>Že <em>izdano</em></p>" in html.get_content()
    plain = parsed.get_body(("plain",))
    assert plain is not None
    assert "odločba je izdana" in plain.get_content()


# ---- unsubscribe ----


def test_unsubscribe_link_from_the_portal_url() -> None:
    link = unsubscribe_link(SETTINGS, "https://portal.sentjur.si/", message())
    assert link is not None
    prefix = "https://portal.sentjur.si/odjava/"
    assert link.startswith(prefix)
    assert unsubscribe.verify(link.removeprefix(prefix), SECRET) == unsubscribe.UnsubscribeToken(
        7, 42
    )
    parsed = roundtrip(build_email(SETTINGS, message(), "https://portal.sentjur.si"))
    assert str(parsed["List-Unsubscribe"]).strip() == f"<{link}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.parametrize(
    ("settings", "public_url", "overrides"),
    [
        (SETTINGS, "https://p.si", {"key_event": True}),  # key events cannot be switched off
        (SETTINGS, "", {}),  # no portal, no pattern
        (EmailSettings(), "https://p.si", {}),  # no secret
        (SETTINGS, "https://p.si", {"subscriber_id": None}),  # subscriber removed
        (  # a pattern that needs the portal URL, without one
            EmailSettings(unsubscribe_url="{public_url}/stop/{token}", unsubscribe_secret=SECRET),
            "",
            {},
        ),
    ],
)
def test_no_unsubscribe_link(
    settings: EmailSettings, public_url: str, overrides: dict[str, Any]
) -> None:
    assert unsubscribe_link(settings, public_url, message(**overrides)) is None
    parsed = roundtrip(build_email(settings, message(**overrides), public_url))
    assert parsed["List-Unsubscribe"] is None
    assert parsed["List-Unsubscribe-Post"] is None


def test_explicit_unsubscribe_url_pattern() -> None:
    settings = EmailSettings(
        unsubscribe_url="https://www.obcina.si/obvestila/odjava?t={token}",
        unsubscribe_secret=SECRET,
    )
    link = unsubscribe_link(settings, "", message())
    assert link is not None
    assert link.startswith("https://www.obcina.si/obvestila/odjava?t=7.42.")


# ---- the layout ----


def test_layout_shows_organisation_logo_and_escapes_them() -> None:
    settings = EmailSettings(organisation="Občina <A&B>", logo_url="https://o.si/logo.png?a=1&b=2")
    html = roundtrip(build_email(settings, message())).get_body(("html",))
    assert html is not None
    text = html.get_content()
    assert 'alt="Občina &lt;A&amp;B&gt;"' in text
    assert 'src="https://o.si/logo.png?a=1&amp;b=2"' in text
    assert '<html lang="sl">' in text


def test_layout_speaks_the_subscribers_language() -> None:
    html = roundtrip(build_email(SETTINGS, message(language="it"), "https://p.si")).get_body(
        ("html",)
    )
    assert html is not None
    assert "Annulla l&#39;iscrizione" in html.get_content()


def test_a_broken_custom_layout_is_a_config_error_at_start(tmp_path: Path) -> None:
    layout = tmp_path / "layout.html"
    layout.write_text("<html>{{ content }}{% if %}</html>", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[email\] html_layout .*layout.html: syntax error"):
        EmailBuilder(EmailSettings(html_layout=str(layout)))
    layout.write_text("<html>{{ content }} {{ no_such_value }}</html>", encoding="utf-8")
    with pytest.raises(ConfigError, match="undefined value"):
        EmailBuilder(EmailSettings(html_layout=str(layout)))


def test_custom_layout_is_used(tmp_path: Path) -> None:
    layout = tmp_path / "layout.html"
    layout.write_text("<div class=obcina>{{ organisation }}|{{ content }}</div>", encoding="utf-8")
    settings = EmailSettings(html_layout=str(layout), organisation="Piran")
    html = roundtrip(build_email(settings, message(body="x < y"))).get_body(("html",))
    assert html is not None
    assert html.get_content().strip() == "<div class=obcina>Piran|<p>x &lt; y</p></div>"


def test_text_to_html_keeps_line_breaks_and_drops_empty_paragraphs() -> None:
    assert html_templates.text_to_html("a\nb\n\n\n  \nc") == Markup("<p>a<br>\nb</p>\n<p>c</p>")
    assert html_templates.text_to_html("") == Markup("")
    # Several addresses on the lines of one paragraph, quotes, markup characters, č.
    text = 'Vloga "č" <x>\nhttps://a.si/x\'y & https://b.si/z.\n\n\nkonec'
    assert html_templates.text_to_html(text) == Markup(
        '<p>Vloga &#34;č&#34; &lt;x&gt;<br>\n<a href="https://a.si/x">https://a.si/x</a>&#39;y'
        ' &amp; <a href="https://b.si/z">https://b.si/z</a>.</p>\n<p>konec</p>'
    )


# ---- email_html templates in the rules ----


def rules_doc(html: object) -> dict[str, Any]:
    return {
        "event_types": [
            {
                "code": "ODL",
                "kind": "notify",
                "templates": {
                    "sl": {
                        "email_subject": "Odločba",
                        "email_body": "Odločba {{ event.case_number }}",
                        "sms": "Odločba",
                        "email_html": html,
                    }
                },
            }
        ]
    }


def test_email_html_template_renders_with_escaped_values() -> None:
    ruleset = parse_rules_document(rules_doc("<p>Zadeva <b>{{ event.subject }}</b></p>"))
    rule = ruleset.rules["ODL"]
    subscriber = Subscriber(1, "p1", "a@b.si", None, events=rule.kind and "all")  # type: ignore[arg-type]
    rendered = render_message(
        rule, Channel.EMAIL, subscriber, {"case_number": "1", "subject": "<i>&"}
    )
    assert rendered.html == "<p>Zadeva <b>&lt;i&gt;&amp;</b></p>"
    assert rendered.body == "Odločba 1"
    sms = render_message(rule, Channel.SMS, subscriber, {"case_number": "1", "subject": "x"})
    assert sms.html is None


def test_email_html_is_optional_and_round_trips() -> None:
    doc = rules_doc("<p>{{ event.case_number }}</p>")
    assert (
        rules_to_document(parse_rules_document(doc))["event_types"][0]["templates"]["sl"][
            "email_html"
        ]
        == "<p>{{ event.case_number }}</p>"
    )
    del doc["event_types"][0]["templates"]["sl"]["email_html"]
    ruleset = parse_rules_document(doc)
    assert ruleset.rules["ODL"].templates["sl"].email_html is None
    assert "email_html" not in rules_to_document(ruleset)["event_types"][0]["templates"]["sl"]


@pytest.mark.parametrize(
    ("html", "problem"),
    [
        ("<p>{% if %}</p>", "template 'email_html': syntax error on line 1"),
        ("  ", "template 'email_html' must be text (or left out)"),
        (12, "template 'email_html' must be text (or left out)"),
    ],
)
def test_bad_email_html_is_refused(html: object, problem: str) -> None:
    with pytest.raises(RulesError) as info:
        parse_rules_document(rules_doc(html))
    [found] = info.value.messages
    assert found.startswith(f"event type ODL, language 'sl': {problem}")


def test_undefined_value_in_email_html_names_the_part() -> None:
    rule = EventTypeRule(
        "ODL", EventKind.NOTIFY, templates={"sl": TemplateSet("S", "B", "x", "{{ event.nope }}")}
    )
    subscriber = Subscriber(1, "p1", "a@b.si", None, events="all")  # type: ignore[arg-type]
    with pytest.raises(TemplateError, match="template email_html: undefined value"):
        render_message(rule, Channel.EMAIL, subscriber, {})


# ---- configuration ----


def config(**email: Any) -> dict[str, Any]:
    return {
        "database": {"url": "postgresql://db/obvo"},
        "source": {"events_query": "SELECT 1", "parties_query": "SELECT :case_ids"},
        "email": email,
    }


@pytest.mark.parametrize(
    ("email_keys", "problem"),
    [
        ({"ca_file": "/nonexistent/ca.pem"}, "[email] ca_file: no such file '/nonexistent/ca.pem'"),
        ({"html_layout": "/nope.html"}, "[email] html_layout: no such file '/nope.html'"),
        ({"message_id_domain": "a b"}, "[email] message_id_domain must be a domain name"),
        ({"logo_url": "logo.png"}, "[email] logo_url must be an https:// (or http://) URL"),
        (
            {"unsubscribe_url": "https://o.si/odjava", "unsubscribe_secret": SECRET},
            "[email] unsubscribe_url must contain {token}",
        ),
        (
            {"unsubscribe_url": "https://o.si/{token}"},
            "[email] unsubscribe_url needs unsubscribe_secret (OBVO_EMAIL_UNSUBSCRIBE_SECRET)",
        ),
        ({"unsubscribe_secret": "short"}, "[email] unsubscribe_secret must have at least 32"),
    ],
)
def test_bad_email_settings_are_named(email_keys: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_mapping(config(**email_keys), {})
    assert problem in str(info.value)


def test_secret_from_the_environment(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x", encoding="utf-8")
    s = settings_from_mapping(
        config(ca_file=str(ca), unsubscribe_url="{public_url}/odjava/{token}"),
        {"OBVO_EMAIL_UNSUBSCRIBE_SECRET": SECRET},
    )
    assert s.email.unsubscribe_secret == SECRET
    assert s.email.ca_file == str(ca)


# ---- the envelope: MAIL FROM / RCPT TO ----


class _Commands:
    """Stands in for smtplib's session: records the commands, accepts each."""

    does_esmtp = True

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def putcmd(self, cmd: str, args: str = "") -> None:
        self.sent.append((cmd, args))

    def getreply(self) -> tuple[int, bytes]:
        return 250, b"OK"


@pytest.mark.parametrize("address", ["ana.kos@koper.si", "a+obvestila@x.example", "o'neil@x.si"])
def test_plain_envelope_addresses_are_written_as_smtplib_writes_them(address: str) -> None:
    commands = _Commands()
    smtp = cast(smtplib.SMTP, commands)
    assert email_sender._quick_command(smtp, "rcpt", "TO", address, ["NOTIFY=NEVER"]) == (
        250,
        b"OK",
    )
    assert commands.sent == [("rcpt", f"TO:{smtplib.quoteaddr(address)} NOTIFY=NEVER")]


@pytest.mark.parametrize(
    ("address", "options"),
    [
        ('"ana kos"@koper.si', []),
        ("Ana <ana@koper.si>", []),
        ("žan@koper.si", []),
        ("ana@koper.si", ["SMTPUTF8"]),
    ],
)
def test_other_envelope_addresses_are_left_to_smtplib(address: str, options: list[str]) -> None:
    commands = _Commands()
    smtp = cast(smtplib.SMTP, commands)
    assert email_sender._quick_command(smtp, "mail", "FROM", address, options) is None
    assert commands.sent == []
