"""Real stand-ins for the outside world: an SMTP server, an SMS gateway, a VOPI writer
(PostgreSQL or MariaDB)."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.message
import email.policy
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pymysql
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = ROOT / "config" / "obvo.example.toml"
EXAMPLE_RULES = ROOT / "config" / "rules.example.toml"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll until predicate() is truthy; fail with a clear message after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate}")
        time.sleep(interval)


# ---- SMTP ----


@dataclass
class ReceivedMail:
    sender: str
    recipients: list[str]
    message: email.message.EmailMessage
    arrived: float = 0.0  # time.monotonic() at the start of DATA

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        return str(part.get_content())


@dataclass
class _MailHandler:
    received: list[ReceivedMail] = field(default_factory=list)
    # recipient → SMTP reply for RCPT TO (e.g. "550 5.1.1 no such user")
    refuse: dict[str, str] = field(default_factory=dict)
    # the reply to every MAIL FROM instead of 250 (e.g. "550 5.7.1 sender rejected")
    refuse_mail: str | None = None
    # hang up after this many more messages' DATA, before the reply (nothing is kept)
    drop_in_data: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    delay: float = 0.0  # seconds before DATA is answered (a relay far away)
    busy: int = 0  # messages in DATA right now
    most_busy: int = 0  # the most at once so far

    async def handle_MAIL(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.refuse_mail:
            return self.refuse_mail
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.refuse.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        arrived = time.monotonic()
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        msg = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(msg, email.message.EmailMessage)
        with self.lock:
            if self.drop_in_data > 0:
                self.drop_in_data -= 1
                transport = server.transport
                assert isinstance(transport, asyncio.WriteTransport)
                transport.abort()  # the connection is cut before the reply to DATA
                return "451 never seen by the client"
            self.busy += 1
            self.most_busy = max(self.most_busy, self.busy)
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.busy -= 1
            self.received.append(
                ReceivedMail(str(envelope.mail_from), list(envelope.rcpt_tos), msg, arrived)
            )
        return "250 Message accepted"


class SmtpServer:
    """aiosmtpd on loopback; stop() and start() simulate an outage on the same port."""

    def __init__(self) -> None:
        self.handler = _MailHandler()
        self.port = 0
        self._controller: Controller | None = None

    def start(self) -> None:
        if not self.port:
            self.port = free_port()
        self._controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, ready_timeout=10
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def messages(self) -> list[ReceivedMail]:
        with self.handler.lock:
            return list(self.handler.received)


# ---- SMS gateway ----


@dataclass
class SmsRequest:
    payload: dict[str, Any]
    headers: dict[str, str]


class SmsGateway:
    """A real HTTP server speaking the default gateway contract; `status` sets the reply."""

    def __init__(self) -> None:
        self.requests: list[SmsRequest] = []
        self.status = 200
        # The next `throttle` requests are answered 429 with Retry-After: `retry_after`.
        self.throttle = 0
        self.retry_after = "1"
        self.answers: list[tuple[float, int]] = []  # (time.monotonic(), status) per request
        # The next this many requests are answered with bytes that are not HTTP, then cut.
        self.garbage = 0
        # recipient ("to") → (HTTP status, error text) for that number only
        self.refuse: dict[str, tuple[int, str]] = {}
        self.lock = threading.Lock()
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._counter = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/send"

    def start(self) -> None:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real gateways offer
            disable_nagle_algorithm = True  # the reply in one segment, no delayed-ACK wait
            wbufsize = -1

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                payload = json.loads(self.rfile.read(length).decode("utf-8"))
                with gateway.lock:
                    if gateway.garbage > 0:
                        gateway.garbage -= 1
                        self.close_connection = True
                        self.wfile.write(b"\x00\xff\xfeOK id=7\r\n\x1b[0m\r\n")
                        return
                    status = gateway.status
                    if gateway.throttle > 0:
                        gateway.throttle -= 1
                        status = 429
                    gateway.answers.append((time.monotonic(), status))
                    refused = gateway.refuse.get(str(payload.get("to")))
                    if refused is not None:
                        status = refused[0]
                    if status < 300:
                        gateway._counter += 1
                        gateway.requests.append(SmsRequest(payload, dict(self.headers.items())))
                    reply = (
                        {"id": f"gw-{gateway._counter}"}
                        if status < 300
                        else {"error": refused[1] if refused else "nope"}
                    )
                body = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if status == 429:
                    self.send_header("Retry-After", gateway.retry_after)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def messages(self) -> list[SmsRequest]:
        with self.lock:
            return list(self.requests)


# ---- VOPI ----


class Vopi:
    """Writes into the reference VOPI schema as VOPI's own clerks would: on PostgreSQL
    (sql/vopi_reference.sql, schema vopi) or MariaDB (sql/vopi_reference_mariadb.sql, a
    database of its own), chosen by the URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.mariadb = url.startswith(("mysql", "mariadb"))
        self.t = "" if self.mariadb else "vopi."  # where the tables are
        self.conn: Any = self.connect(autocommit=True)

    def connect(self, autocommit: bool = False) -> Any:
        """A VOPI session (psycopg or PyMySQL); MariaDB's on VOPI's wall clock, as the
        application's own sessions are, so DATETIME defaults are Ljubljana time."""
        if not self.mariadb:
            return psycopg.connect(self.url, autocommit=autocommit)
        conn = pymysql.connect(**mariadb_params(self.url), autocommit=autocommit)
        offset = dt.datetime.now(ZoneInfo("Europe/Ljubljana")).strftime("%z")
        self.execute(conn, f"SET time_zone = '{offset[:3]}:{offset[3:]}'")
        return conn

    def close(self) -> None:
        self.conn.close()

    @staticmethod
    def execute(conn: Any, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """One statement on either driver (both use %s); its rows, if any."""
        if isinstance(conn, psycopg.Connection):
            cursor = conn.execute(statement, params or None)
            return list(cursor.fetchall()) if cursor.description else []
        with conn.cursor() as cursor:
            cursor.execute(statement, params or None)
            return list(cursor.fetchall()) if cursor.description else []

    def _one(self, conn: Any, statement: str, params: Sequence[Any] = ()) -> int:
        [row] = self.execute(conn, statement, params)
        return int(row[0])

    def party(self, name: str = "Janez Novak") -> int:
        return self._one(
            self.conn, f"INSERT INTO {self.t}parties (name) VALUES (%s) RETURNING id", (name,)
        )

    def application(self, *party_ids: int, case_number: str | None = None) -> int:
        unique = "CONCAT('TMP-', UUID())" if self.mariadb else "'TMP-' || gen_random_uuid()"
        app_id = self._one(
            self.conn,
            f"INSERT INTO {self.t}applications (case_number, subject, clerk_name,"
            f" classification_code) VALUES (coalesce(%s, {unique}), 'Gradbeno dovoljenje',"
            " 'Žana Čuk', '354-1') RETURNING id",
            (case_number,),
        )
        if case_number is None:
            self.execute(
                self.conn,
                f"UPDATE {self.t}applications SET case_number = %s WHERE id = %s",
                (f"354-{app_id}/2026", app_id),
            )
        for pid in party_ids:
            self.execute(
                self.conn,
                f"INSERT INTO {self.t}application_parties (application_id, party_id)"
                " VALUES (%s, %s)",
                (app_id, pid),
            )
        return app_id

    def event(self, event_type: str, application_id: int, conn: Any = None) -> int:
        """A new event, committed at once, or in `conn`'s open transaction."""
        return self._one(
            conn or self.conn,
            f"INSERT INTO {self.t}event_log (event_type_code, application_id) VALUES (%s, %s)"
            " RETURNING id",
            (event_type, application_id),
        )

    def events(self, event_type: str, application_id: int, count: int) -> list[int]:
        rows = f"seq_1_to_{int(count)}" if self.mariadb else f"generate_series(1, {int(count)})"
        return [
            int(r[0])
            for r in self.execute(
                self.conn,
                f"INSERT INTO {self.t}event_log (event_type_code, application_id)"
                f" SELECT %s, %s FROM {rows} RETURNING id",
                (event_type, application_id),
            )
        ]

    def event_ids(self) -> set[int]:
        return {int(r[0]) for r in self.execute(self.conn, f"SELECT id FROM {self.t}event_log")}

    def draw_ids_from_a_sequence(self) -> None:
        """MariaDB: event ids from a SEQUENCE (drawn before the insert), not AUTO_INCREMENT;
        PostgreSQL's reference schema draws them from one already (bigserial)."""
        if self.mariadb:
            self.execute(self.conn, "CREATE SEQUENCE event_log_seq NOCACHE")
            self.execute(
                self.conn,
                "ALTER TABLE event_log MODIFY id BIGINT NOT NULL"
                " DEFAULT (NEXT VALUE FOR event_log_seq)",
            )

    def draw_id(self, conn: Any) -> int:
        """The next event id, drawn in `conn`'s transaction, to be inserted later."""
        if self.mariadb:
            return self._one(conn, "SELECT NEXT VALUE FOR event_log_seq")
        return self._one(conn, "SELECT nextval('vopi.event_log_id_seq')")

    def insert_event_with_id(
        self, conn: Any, event_id: int, event_type: str, application_id: int
    ) -> None:
        self.execute(
            conn,
            f"INSERT INTO {self.t}event_log (id, event_type_code, application_id)"
            " VALUES (%s, %s, %s)",
            (event_id, event_type, application_id),
        )

    @contextmanager
    def open_transaction(self) -> Iterator[Any]:
        """A second VOPI session whose transaction stays open until the block ends
        (committed unless the block raises or calls rollback)."""
        conn = self.connect()
        try:
            if self.mariadb:
                conn.begin()
            yield conn
            conn.commit()
        finally:
            conn.close()


def mariadb_params(url: str) -> dict[str, Any]:
    """PyMySQL's connect() arguments for a `mysql+pymysql://` URL."""
    parsed = sa.engine.make_url(url)
    return {
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 3306,
        "user": parsed.username or "root",
        "password": parsed.password or "",
        "database": parsed.database,
        "charset": "utf8mb4",
    }


# ---- a database that goes away ----


class TcpProxy:
    """A loopback TCP relay to PostgreSQL; stop() cuts every connection like a crashed server
    or a broken network, start() brings the address back."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        if self._listener is not None:
            with suppress(OSError):  # shutdown wakes the thread blocked in accept()
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for s in self._sockets:
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._sockets.clear()
