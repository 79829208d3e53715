"""E-mail over SMTP (smtplib), one connection reused for a whole batch."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from vopi_obvo.config import EmailSettings
from vopi_obvo.senders import OutgoingMessage, PermanentFailure, TemporaryFailure


def sender_domain(sender: str) -> str:
    return parseaddr(sender)[1].rpartition("@")[2] or "localhost"


def message_id(notification_id: int, domain: str) -> str:
    """Stable across retries, so a receiving server can drop a duplicate of the same message."""
    return f"<obvo.{notification_id}@{domain}>"


def build_email(settings: EmailSettings, message: OutgoingMessage) -> EmailMessage:
    email = EmailMessage()
    email["From"] = settings.sender
    email["To"] = message.recipient
    email["Subject"] = message.subject or ""
    email["Date"] = formatdate(localtime=True)
    email["Message-ID"] = message_id(message.notification_id, sender_domain(settings.sender))
    email["Auto-Submitted"] = "auto-generated"
    if settings.reply_to:
        email["Reply-To"] = settings.reply_to
    email.set_content(message.body, charset="utf-8")
    return email


class EmailSender:
    channel = "email"

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if s.security == "tls":
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            smtp.ehlo()
            if s.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.username:
                smtp.login(s.username, s.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: OutgoingMessage) -> str | None:
        email = build_email(self.settings, message)
        try:
            self._send_reusing_connection(email)
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            code, reply = next(iter(exc.recipients.values()))
            raise _classify(code, reply) from None
        except smtplib.SMTPAuthenticationError as exc:
            # Our credentials, not the message: never fail citizens' messages for it.
            self.close()
            raise TemporaryFailure(f"SMTP authentication failed: {exc.smtp_code}") from None
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise _classify(exc.smtp_code, exc.smtp_error) from None
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise TemporaryFailure(
                f"SMTP {self.settings.host}:{self.settings.port}: {exc}"
            ) from None
        return str(email["Message-ID"])

    def _send_reusing_connection(self, email: EmailMessage) -> None:
        if self._smtp is not None:
            try:
                self._smtp.send_message(email)
            except smtplib.SMTPServerDisconnected:
                self.close()  # the server hung up between messages: reconnect once
            else:
                return
        self._smtp = self._connect()
        self._smtp.send_message(email)

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (TimeoutError, smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None


def _classify(code: int, reply: bytes | str) -> TemporaryFailure | PermanentFailure:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    description = f"SMTP {code} {text}".strip()
    return PermanentFailure(description) if code >= 500 else TemporaryFailure(description)
