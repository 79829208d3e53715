"""E-mail over SMTP (smtplib): a small pool of connections, each reused across messages.

Every message is multipart/alternative: the plain text, and an HTML part (the event type's
`email_html` template, or the plain text in paragraphs) inside the municipality's layout.
Headers are what receiving servers and people expect: RFC 2047-encoded names and subject,
`Date`, a stable `Message-ID`, `Auto-Submitted: auto-generated` (no auto-replies), and for
events a citizen may switch off, `List-Unsubscribe` with one-click POST (RFC 8058).
"""

from __future__ import annotations

import base64
import email
import email.policy
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

import structlog
from markupsafe import Markup

from vopi_obvo.config import EmailSettings
from vopi_obvo.errors import ConfigError, TemplateError
from vopi_obvo.messages import html_templates, unsubscribe
from vopi_obvo.senders import (
    ConfigurationFailure,
    OutgoingMessage,
    PermanentFailure,
    TemporaryFailure,
    mime,
)

log = structlog.get_logger("vopi_obvo.email")

DEFAULT_UNSUBSCRIBE_PATH = "{public_url}/odjava/{token}"


def sender_domain(sender: str) -> str:
    return parseaddr(sender)[1].rpartition("@")[2] or "localhost"


def message_id(notification_id: int, domain: str) -> str:
    """Stable across retries, so a receiving server can drop a duplicate of the same message."""
    return f"<obvo.{notification_id}@{domain}>"


def unsubscribe_link(
    settings: EmailSettings, public_url: str, message: OutgoingMessage
) -> str | None:
    """The one-click unsubscribe URL for this message, or None (key event, no portal/secret)."""
    if message.key_event or not settings.unsubscribe_secret:
        return None
    if message.subscriber_id is None or message.notification_id < 1:  # e.g. the portal's codes
        return None
    pattern = settings.unsubscribe_url or (DEFAULT_UNSUBSCRIBE_PATH if public_url else "")
    if not pattern or ("{public_url}" in pattern and not public_url):
        return None
    token = unsubscribe.sign(
        message.subscriber_id, message.notification_id, settings.unsubscribe_secret
    )
    return pattern.replace("{public_url}", public_url.rstrip("/")).replace("{token}", token)


@dataclass(frozen=True)
class OutboundEmail:
    """A message ready for SMTP: the envelope and either the finished bytes or, for an
    address that needs SMTPUTF8, the `email` package's message (smtplib negotiates that)."""

    envelope_from: str
    recipient: str
    message_id: str
    data: bytes | None = None
    message: EmailMessage | None = None


class EmailBuilder:
    """Turns an OutgoingMessage into the message on the wire; the layout is read and checked,
    and every header that is the same for all messages is encoded, once."""

    def __init__(self, settings: EmailSettings, public_url: str = "") -> None:
        self.settings = settings
        self.public_url = public_url
        self.domain = settings.message_id_domain or sender_domain(settings.sender)
        self.organisation = settings.organisation or parseaddr(settings.sender)[0]
        self.envelope_from = parseaddr(settings.sender)[1]
        self._date_cache = (0, "")
        self._fixed_ascii = all(
            parseaddr(a)[1].isascii() for a in (settings.sender, settings.reply_to)
        )
        self._from = mime.fold("From", [mime.address(*parseaddr(settings.sender))])
        self._reply_to = (
            mime.fold("Reply-To", [mime.address(*parseaddr(settings.reply_to))])
            if settings.reply_to
            else None
        )
        try:
            self.layout = html_templates.layout_source(settings.html_layout)
            self._html("Preizkus", Markup("<p>Preizkus</p>"), "https://example.invalid/x", "sl")
        except TemplateError as exc:
            where = settings.html_layout or html_templates.DEFAULT_LAYOUT
            raise ConfigError(f"[email] html_layout {where}: {exc}") from exc

    def _date(self) -> str:
        """The Date header's value, made once per second (the sending threads share it: a
        tuple is read and replaced whole)."""
        now = int(time.time())
        second, text = self._date_cache
        if second != now:
            text = formatdate(now, localtime=True)
            self._date_cache = (now, text)
        return text

    def _html(self, subject: str, content: Markup, unsubscribe_url: str | None, lang: str) -> str:
        return html_templates.render_layout(
            self.layout,
            content=content,
            subject=subject,
            organisation=self.organisation,
            logo_url=self.settings.logo_url,
            unsubscribe_url=unsubscribe_url,
            language=lang,
        )

    def _parts(self, message: OutgoingMessage) -> tuple[str | None, str]:
        """The unsubscribe link (or None) and the HTML part."""
        link = unsubscribe_link(self.settings, self.public_url, message)
        content = (
            Markup(message.html)  # noqa: S704 - rendered with autoescape when the row was made
            if message.html
            else html_templates.text_to_html(message.body)
        )
        try:
            return link, self._html(message.subject or "", content, link, message.language)
        except TemplateError as exc:
            raise PermanentFailure(f"e-mail layout: {exc}") from exc

    def outbound(self, message: OutgoingMessage) -> OutboundEmail:
        mid = message_id(message.notification_id, self.domain)
        if not (self._fixed_ascii and message.recipient.isascii()):
            return OutboundEmail(
                self.envelope_from, message.recipient, mid, message=self._email_message(message)
            )
        link, html = self._parts(message)
        headers = [
            self._from,
            f"To: {message.recipient}",
            mime.header("Subject", message.subject or ""),
            f"Date: {self._date()}",
            f"Message-ID: {mid}",
            "Auto-Submitted: auto-generated",
            # Outlook/Exchange honour this instead of Auto-Submitted: no out-of-office replies.
            "X-Auto-Response-Suppress: All",
        ]
        if self._reply_to:
            headers.append(self._reply_to)
        if link:
            headers.append(mime.fold("List-Unsubscribe", [f"<{link}>"]))
            headers.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
        data = mime.alternative(
            headers, message.body, html, [f"Content-Language: {message.language}"]
        )
        return OutboundEmail(self.envelope_from, message.recipient, mid, data=data)

    def build(self, message: OutgoingMessage) -> EmailMessage:
        """The message as a receiving server parses it (previews and tests)."""
        outbound = self.outbound(message)
        if outbound.message is not None:
            return outbound.message
        assert outbound.data is not None  # noqa: S101 - one of the two is always set
        parsed = email.message_from_bytes(outbound.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)  # noqa: S101 - what policy.default makes
        return parsed

    def _email_message(self, message: OutgoingMessage) -> EmailMessage:
        """The same message through the `email` package, for addresses that need SMTPUTF8."""
        s = self.settings
        email_message = EmailMessage()
        email_message["From"] = s.sender
        email_message["To"] = message.recipient
        email_message["Subject"] = message.subject or ""
        email_message["Date"] = formatdate(localtime=True)
        email_message["Message-ID"] = message_id(message.notification_id, self.domain)
        email_message["Auto-Submitted"] = "auto-generated"
        email_message["X-Auto-Response-Suppress"] = "All"
        if s.reply_to:
            email_message["Reply-To"] = s.reply_to
        link, html = self._parts(message)
        if link:
            email_message["List-Unsubscribe"] = f"<{link}>"
            email_message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        email_message.set_content(message.body, charset="utf-8")
        email_message.add_alternative(html, subtype="html", charset="utf-8")
        # After add_alternative, which moves Content-* headers into the first part.
        email_message["Content-Language"] = message.language
        return email_message


def build_email(
    settings: EmailSettings, message: OutgoingMessage, public_url: str = ""
) -> EmailMessage:
    return EmailBuilder(settings, public_url).build(message)


class EmailSender:
    channel = "email"

    def __init__(self, settings: EmailSettings, *, public_url: str = "") -> None:
        self.settings = settings
        self.builder = EmailBuilder(settings, public_url)
        # Connections free for the next message: the sending threads share them, each
        # connection carrying one message at a time; as many open as threads needed at once.
        self._idle: list[smtplib.SMTP] = []
        self._lock = threading.Lock()
        if public_url and not settings.unsubscribe_secret:
            log.warning(
                "email.no_unsubscribe_link",
                reason="[portal] public_url is set but [email] unsubscribe_secret is not",
            )

    def _tls_context(self) -> ssl.SSLContext:
        # With ca_file only that CA is trusted; otherwise the system's. Names are checked.
        return ssl.create_default_context(cafile=self.settings.ca_file or None)

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        smtp: smtplib.SMTP
        if s.security == "tls":
            smtp = _SmtpSsl(s.host, s.port, timeout=s.timeout, context=self._tls_context())
        else:
            smtp = _Smtp(s.host, s.port, timeout=s.timeout)
        try:
            smtp.ehlo()
            if s.security == "starttls":
                smtp.starttls(context=self._tls_context())
                smtp.ehlo()
            if s.username:
                _login(smtp, s.username, s.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: OutgoingMessage) -> str | None:
        outbound = self.builder.outbound(message)
        try:
            self._send_reusing_connection(outbound)
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            code, reply = next(iter(exc.recipients.values()))
            raise _classify(code, reply) from None
        except smtplib.SMTPAuthenticationError as exc:
            # Our credentials, not the message: never fail citizens' messages for it.
            self.close()
            raise ConfigurationFailure(
                f"SMTP {self._where}: authentication as {self.settings.username!r} failed: "
                f"{exc.smtp_code} {_text(exc.smtp_error)} (check [email] username/password)"
            ) from None
        except smtplib.SMTPSenderRefused as exc:
            # MAIL FROM refused for good: OBVO's sender address, session or relay permission.
            self.close()
            if exc.smtp_code < 500 or exc.smtp_code in _SESSION_CODES:
                raise _classify(exc.smtp_code, exc.smtp_error) from None
            raise ConfigurationFailure(
                f"SMTP {self._where} refused the sender {exc.sender!r}: {exc.smtp_code} "
                f"{_text(exc.smtp_error)} (check [email] sender, security, username)"
            ) from None
        except (smtplib.SMTPHeloError, smtplib.SMTPNotSupportedError) as exc:
            self.close()
            raise ConfigurationFailure(
                f"SMTP {self._where} refused OBVO's session: {exc} (check [email] security, "
                "username)"
            ) from None
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise _classify(exc.smtp_code, exc.smtp_error) from None
        except ssl.SSLCertVerificationError as exc:
            self.close()
            raise TemporaryFailure(
                f"SMTP {self._where}: the server's TLS certificate is not trusted "
                f"({exc.verify_message}); check its certificate, or trust its CA with "
                "[email] ca_file"
            ) from None
        except ssl.SSLError as exc:
            self.close()
            raise TemporaryFailure(f"SMTP {self._where}: TLS failed: {exc.reason}") from None
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise TemporaryFailure(f"SMTP {self._where}: {exc}") from None
        return outbound.message_id

    @property
    def _where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def _send_reusing_connection(self, outbound: OutboundEmail) -> None:
        """On an idle connection of the pool if there is one, else on a new one; back to the
        pool after the server accepted, closed after anything else."""
        with self._lock:
            smtp = self._idle.pop() if self._idle else None
        if smtp is not None:
            try:
                _transmit(smtp, outbound)
            except (smtplib.SMTPServerDisconnected, ConnectionError):
                # The server hung up between messages (idle timeout, restart): reconnect once.
                smtp.close()
            except BaseException:
                smtp.close()
                raise
            else:
                self._put_back(smtp)
                return
        smtp = self._connect()
        try:
            _transmit(smtp, outbound)
        except BaseException:
            smtp.close()
            raise
        self._put_back(smtp)

    def _put_back(self, smtp: smtplib.SMTP) -> None:
        with self._lock:
            self._idle.append(smtp)

    def close(self) -> None:
        """QUIT the idle connections (the outbox is drained, or a send failed)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for smtp in idle:
            try:
                smtp.quit()
            except (TimeoutError, smtplib.SMTPException, OSError):
                smtp.close()


# An address smtplib may put in MAIL FROM / RCPT TO as it is, in angle brackets: smtplib takes
# every address apart with email.utils.parseaddr first (about 8 µs, twice per message), which
# for such an address gives the same. Anything else goes smtplib's way.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")


def _quick_command(
    smtp: smtplib.SMTP, verb: str, prefix: str, address: str, options: Sequence[str]
) -> tuple[int, bytes] | None:
    """MAIL/RCPT for a plain ASCII address without SMTPUTF8; None: let smtplib do it."""
    if not _PLAIN_ADDRESS.fullmatch(address) or any(o.lower() == "smtputf8" for o in options):
        return None
    optionlist = " " + " ".join(options) if options and smtp.does_esmtp else ""
    smtp.putcmd(verb, f"{prefix}:<{address}>{optionlist}")
    return smtp.getreply()


class _Smtp(smtplib.SMTP):
    """smtplib's client, MAIL FROM and RCPT TO without parseaddr for plain addresses."""

    def mail(self, sender: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        quick = _quick_command(self, "mail", "FROM", sender, options)
        return quick or super().mail(sender, options)

    def rcpt(self, recip: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        quick = _quick_command(self, "rcpt", "TO", recip, options)
        return quick or super().rcpt(recip, options)


class _SmtpSsl(_Smtp, smtplib.SMTP_SSL):
    """The same over implicit TLS (`security = "tls"`)."""


def _transmit(smtp: smtplib.SMTP, outbound: OutboundEmail) -> None:
    if outbound.data is not None:
        smtp.sendmail(outbound.envelope_from, [outbound.recipient], outbound.data)
    else:
        assert outbound.message is not None  # noqa: S101 - one of the two is always set
        smtp.send_message(outbound.message)


def _login(smtp: smtplib.SMTP, username: str, password: str) -> None:
    if (username + password).isascii():
        smtp.login(username, password)
        return
    # smtplib encodes credentials as ASCII; AUTH PLAIN is UTF-8 (RFC 4616), so send it as such.
    if "plain" not in smtp.esmtp_features.get("auth", "").lower().split():
        raise smtplib.SMTPNotSupportedError("a non-ASCII password needs AUTH PLAIN")
    token = base64.b64encode(f"\0{username}\0{password}".encode()).decode("ascii")
    code, reply = smtp.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


# 5xx replies about our own session, not the message: TLS or AUTH required, bad credentials.
# Fixing the configuration lets the same message through, so they must not fail it for good.
_SESSION_CODES = {
    530: "[email] security / username",
    534: "[email] username",
    535: "[email] password",
    538: "[email] security",
}
# A refusal to relay names the recipient (it comes at RCPT TO) but is about OBVO: the server
# does not accept mail from this client or sender for other domains. "5.7.1 Relay access
# denied" (Postfix), "Relaying denied" (Sendmail, Exim), "Unable to relay" (Exchange).
_RELAY_REFUSED = re.compile(
    r"\brelay(?:ing)?\b.*\b(?:denied|not permitted|prohibited)\b|"
    r"\b(?:unable|not allowed|not permitted) to relay\b",
    re.IGNORECASE,
)


def _classify(code: int, reply: bytes | str) -> TemporaryFailure | PermanentFailure:
    """A reply to one message (RCPT TO, DATA): recipient-specific 5xx are permanent; the ones
    about OBVO's own session or relay permission are configuration errors."""
    text = _text(reply)
    description = f"SMTP {code} {text}".strip()
    if code in _SESSION_CODES:
        return ConfigurationFailure(f"{description} (check {_SESSION_CODES[code]})")
    if code >= 500 and _RELAY_REFUSED.search(text):
        return ConfigurationFailure(
            f"{description} (the server does not relay for OBVO: check [email] host, "
            "username, or the relay's list of allowed clients)"
        )
    return PermanentFailure(description) if code >= 500 else TemporaryFailure(description)
