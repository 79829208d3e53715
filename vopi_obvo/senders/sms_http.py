"""SMS through an HTTP gateway: 2xx accepted; 4xx permanent, except 401/403 (our credentials),
408 and 429; everything else temporary.

The request is OBVO's own contract unless the gateway's method, headers, body template and id
path are configured for a real provider (http_request.py, docs/sms-gateways.md).
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request

import structlog

from vopi_obvo.config import SmsGatewaySettings
from vopi_obvo.messages import sms_encoding
from vopi_obvo.senders import (
    ConfigurationFailure,
    OutgoingMessage,
    PermanentFailure,
    TemporaryFailure,
)
from vopi_obvo.senders.http_request import (
    DEFAULT_ID_PATH,
    RequestTemplateError,
    build_request,
    find_id,
)

log = structlog.get_logger("vopi_obvo.sms")


class HttpSmsSender:
    channel = "sms"

    def __init__(self, gateway: SmsGatewaySettings, sender_id: str | None = None) -> None:
        self.gateway = gateway
        # [sms] carries its own sender id; a fallback gateway is given [sms] sender.
        self.sender_id = sender_id if sender_id is not None else getattr(gateway, "sender", "")
        self.name = gateway.url
        self._warned_no_id = False

    def send(self, message: OutgoingMessage) -> str | None:
        info = sms_encoding.analyse(message.body)
        values = {
            "to": message.recipient,
            "to_digits": message.recipient.lstrip("+"),
            "text": message.body,
            "sender": self.sender_id,
            "reference": str(message.notification_id),
            "encoding": info.encoding.value,
            "segments": info.segments,
        }
        g = self.gateway
        try:
            prepared = build_request(
                method=g.method,
                header_lines=g.headers,
                body_template=g.body,
                token=g.token,
                values=values,
            )
        except RequestTemplateError as exc:
            # Checked with sample values at start; a real text that still breaks it is ours.
            raise PermanentFailure(f"SMS gateway request: {exc}") from None
        request = urllib.request.Request(  # noqa: S310 - the URL is validated as http(s) in config
            g.url, data=prepared.body, headers=prepared.headers, method=prepared.method
        )
        try:
            with urllib.request.urlopen(request, timeout=g.timeout) as response:  # noqa: S310
                body = response.read()
        except urllib.error.HTTPError as exc:
            detail = _short(exc.read())
            text = f"SMS gateway HTTP {exc.code}{': ' + detail if detail else ''}"
            if exc.code in (401, 403):
                # Our credentials, not the message: never fail citizens' messages for it.
                raise ConfigurationFailure(f"{text} (check [sms] token / headers)") from None
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                raise PermanentFailure(text) from None
            raise TemporaryFailure(text) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TemporaryFailure(f"SMS gateway unreachable: {reason}") from None
        provider_id = find_id(body, g.id_path)
        if provider_id is None and g.id_path != DEFAULT_ID_PATH and not self._warned_no_id:
            self._warned_no_id = True
            log.warning("sms.no_provider_id", id_path=g.id_path, reply=_short(body))
        return provider_id

    def close(self) -> None:
        """Nothing held between messages."""


def _short(body: bytes) -> str:
    return body.decode("utf-8", "replace").strip().replace("\n", " ")[:200]
