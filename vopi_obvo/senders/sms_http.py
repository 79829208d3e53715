"""SMS through an HTTP gateway: POST JSON, 2xx accepted, 4xx permanent, else temporary."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request

from vopi_obvo.config import SmsSettings
from vopi_obvo.senders import OutgoingMessage, PermanentFailure, TemporaryFailure


class HttpSmsSender:
    channel = "sms"

    def __init__(self, settings: SmsSettings) -> None:
        self.settings = settings

    def send(self, message: OutgoingMessage) -> str | None:
        payload = {
            "to": message.recipient,
            "text": message.body,
            "sender": self.settings.sender,
            "reference": str(message.notification_id),
        }
        headers = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}
        if self.settings.token:
            headers["Authorization"] = f"Bearer {self.settings.token}"
        request = urllib.request.Request(  # noqa: S310 - the URL is validated as http(s) in config
            self.settings.url,
            data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
            headers=headers,
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout) as response:  # noqa: S310
                body = response.read()
        except urllib.error.HTTPError as exc:
            detail = _short(exc.read())
            text = f"SMS gateway HTTP {exc.code}{': ' + detail if detail else ''}"
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                raise PermanentFailure(text) from None
            raise TemporaryFailure(text) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TemporaryFailure(f"SMS gateway unreachable: {reason}") from None
        return _provider_id(body)

    def close(self) -> None:
        """Nothing held between messages."""


def _provider_id(body: bytes) -> str | None:
    try:
        data = json.loads(body or b"null")
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("id") is not None:
        return str(data["id"])
    return None


def _short(body: bytes) -> str:
    return body.decode("utf-8", "replace").strip().replace("\n", " ")[:200]
