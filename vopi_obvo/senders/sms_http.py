"""SMS through an HTTP gateway: 2xx accepted; 429 slows the channel down (Throttled); other
4xx permanent, except 401/403 (our credentials) and 408; everything else temporary.

The request is OBVO's own contract unless the gateway's method, headers, body template and id
path are configured for a real provider (http_request.py, docs/sms-gateways.md). Connections
are kept alive and reused (urllib3's pool, one per gateway, shared by the sending threads);
the `http(s)_proxy` / `no_proxy` environment is honoured as urllib did.
"""

from __future__ import annotations

import email.utils
import time
import urllib.parse
import urllib.request

import structlog
import urllib3

from vopi_obvo.config import SmsGatewaySettings
from vopi_obvo.messages import sms_encoding
from vopi_obvo.senders import (
    ConfigurationFailure,
    OutgoingMessage,
    PermanentFailure,
    TemporaryFailure,
    Throttled,
)
from vopi_obvo.senders.http_request import (
    DEFAULT_ID_PATH,
    RequestTemplateError,
    find_id,
    request_body,
    request_headers,
)

log = structlog.get_logger("vopi_obvo.sms")


class HttpSmsSender:
    channel = "sms"

    def __init__(
        self, gateway: SmsGatewaySettings, sender_id: str | None = None, connections: int = 8
    ) -> None:
        self.gateway = gateway
        # [sms] carries its own sender id; a fallback gateway is given [sms] sender.
        self.sender_id = sender_id if sender_id is not None else getattr(gateway, "sender", "")
        self.name = gateway.url
        self._warned_no_id = False
        self._pool = connection_pool(gateway.url, gateway.timeout, connections)
        # Without a proxy, the gateway's own connection pool, asked directly with the URL's
        # path: the manager would parse the URL and look the pool up again for every message.
        self._direct: urllib3.HTTPConnectionPool | None = None
        self._target = gateway.url
        if not isinstance(self._pool, urllib3.ProxyManager):
            self._direct = self._pool.connection_from_url(gateway.url)
            self._target = urllib3.util.parse_url(gateway.url).request_uri
        # The same for every message; checked at start ([sms] headers), so an error here
        # fails each message with its reason rather than the start.
        self._headers: dict[str, str] | None = None
        self._headers_error = ""
        try:
            self._headers = request_headers(gateway.headers, gateway.token)
        except RequestTemplateError as exc:
            self._headers_error = str(exc)

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
        if self._headers is None:
            raise PermanentFailure(f"SMS gateway request: {self._headers_error}")
        try:
            body = request_body(g.body, values)
        except RequestTemplateError as exc:
            # Checked with sample values at start; a real text that still breaks it is ours.
            raise PermanentFailure(f"SMS gateway request: {exc}") from None
        try:
            direct = self._direct
            if direct is not None:
                response = direct.urlopen(
                    g.method, self._target, body=body, headers=self._headers, redirect=False
                )
            else:
                response = self._pool.request(
                    g.method, g.url, body=body, headers=self._headers, redirect=False
                )
        except urllib3.exceptions.HTTPError as exc:
            reason = getattr(exc, "reason", None) or exc
            raise TemporaryFailure(f"SMS gateway unreachable: {reason}") from None
        body = response.data
        status = response.status
        if status == 429:
            raise Throttled(
                f"SMS gateway HTTP 429{_detail(body)} (sending slower)",
                retry_after(response.headers.get("Retry-After")),
            )
        if status >= 300:
            text = f"SMS gateway HTTP {status}{_detail(body)}"
            if status in (401, 403):
                # Our credentials, not the message: never fail citizens' messages for it.
                raise ConfigurationFailure(f"{text} (check [sms] token / headers)")
            if 400 <= status < 500 and status != 408:
                raise PermanentFailure(text)
            raise TemporaryFailure(text)
        provider_id = find_id(body, g.id_path)
        if provider_id is None and g.id_path != DEFAULT_ID_PATH and not self._warned_no_id:
            self._warned_no_id = True
            log.warning("sms.no_provider_id", id_path=g.id_path, reply=_short(body))
        return provider_id

    def close(self) -> None:
        """The kept-alive connections stay open between batches."""

    def shutdown(self) -> None:
        self._direct = None
        self._pool.clear()


def connection_pool(url: str, timeout: float, connections: int) -> urllib3.PoolManager:
    """Kept-alive connections to the gateway, through the environment's proxy if it names
    one for this host. Only a failed connect is retried at once (the request was not sent);
    a reply that never came is the dispatcher's to retry later."""
    options = {
        "num_pools": 2,
        "maxsize": max(connections, 1),
        "block": False,
        "timeout": urllib3.Timeout(connect=timeout, read=timeout),
        "retries": urllib3.Retry(total=1, connect=1, read=0, redirect=0, status=0, other=0),
    }
    parts = urllib.parse.urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        return urllib3.ProxyManager(proxy, **options)  # type: ignore[arg-type]
    return urllib3.PoolManager(**options)  # type: ignore[arg-type]


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (a number of seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _detail(body: bytes) -> str:
    detail = _short(body)
    return f": {detail}" if detail else ""


def _short(body: bytes) -> str:
    return body.decode("utf-8", "replace").strip().replace("\n", " ")[:200]
