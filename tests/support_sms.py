"""An HTTP SMS provider stand-in that records every request as sent and answers as told."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class ProviderRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int = 0  # the HTTP status the stub gave

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


def infobip_reply(request: ProviderRequest, number: int) -> dict[str, Any]:
    """The shape of Infobip's reply to POST /sms/2/text/advanced (one message)."""
    to = request.json()["messages"][0]["destinations"][0]["to"]
    return {
        "bulkId": f"bulk-{number}",
        "messages": [
            {
                "to": to,
                "status": {
                    "groupId": 1,
                    "groupName": "PENDING",
                    "id": 26,
                    "name": "PENDING_ACCEPTED",
                },
                "messageId": f"ib-{number}",
            }
        ],
    }


class ProviderStub:
    """`status` sets the HTTP status; `reply` builds the JSON body of a 2xx answer."""

    def __init__(
        self, reply: Callable[[ProviderRequest, int], Any] = lambda _r, n: {"id": f"gw-{n}"}
    ) -> None:
        self.reply = reply
        self.status = 200
        self.requests: list[ProviderRequest] = []
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                with stub.lock:
                    status = stub.status
                    request = ProviderRequest(
                        self.command,
                        self.path,
                        dict(self.headers.items()),
                        self.rfile.read(length),
                        status,
                    )
                    stub.requests.append(request)
                    number = len(stub.requests)
                answer = stub.reply(request, number) if status < 300 else {"error": "down"}
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_PUT = _handle  # noqa: N815 - http.server's method names

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sms/2/text/advanced"

    def start(self) -> ProviderStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def received(self) -> list[ProviderRequest]:
        with self.lock:
            return list(self.requests)

    @property
    def accepted(self) -> list[ProviderRequest]:
        return [r for r in self.received if r.answered < 300]
