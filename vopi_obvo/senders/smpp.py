"""SMS over SMPP 3.4 (smpplib): one bound transceiver session per gateway, per process.

A session outlives dispatch batches, because delivery receipts (deliver_sm) arrive on it
minutes after a message was submitted. Its own thread owns all reading: submit_sm_resp
answers (matched to the waiting sender by sequence number), deliver_sm receipts (written to
the database, then answered), enquire_link in both directions, and reconnecting with backoff
when the SMSC or the network goes away. Writing is shared under a lock: the dispatcher's
thread submits, the session thread answers and keeps the link alive.

Sessions live in a process-wide registry, so every `make_senders()` of a process (the daemon,
the portal sending a code) shares one bind per gateway; `shutdown()` unbinds at the end.
"""

from __future__ import annotations

import atexit
import contextlib
import select
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp
import sqlalchemy as sa
import structlog

from vopi_obvo.config import Settings, SmsGatewaySettings
from vopi_obvo.senders import OutgoingMessage, PermanentFailure, TemporaryFailure, Throttled
from vopi_obvo.senders.smpp_text import (
    ESM_CLASS_RECEIPT,
    Receipt,
    build_message,
    destination_address,
    parse_receipt,
    source_address,
)

log = structlog.get_logger("vopi_obvo.smpp")

ESME_ROK = 0x00
# The SMSC asks us to slow down: the message is not at fault (senders.Throttled).
THROTTLING_STATUSES = {0x58: "ESME_RTHROTTLED", 0x14: "ESME_RMSGQFUL"}
ESME_RX_T_APPN = 0x64  # "temporary application error": the SMSC delivers the receipt again
# submit_sm_resp statuses that say the message itself is wrong: retrying cannot help.
PERMANENT_STATUSES = {
    0x01: "invalid message length",
    0x0A: "invalid source address",
    0x0B: "invalid destination address",
    0x48: "invalid source address TON",
    0x49: "invalid source address NPI",
    0x50: "invalid destination address TON",
    0x51: "invalid destination address NPI",
}
MAX_RECONNECT_WAIT = 30.0
POLL_SECONDS = 0.2
# How often receipts that overtook the dispatcher are looked at again (sms_receipts.py).
SWEEP_SECONDS = 5.0


class ReceiptSink(Protocol):
    def parts_submitted(
        self, gateway: str, notification_id: int, message_ids: Sequence[str]
    ) -> None: ...

    def receipt(self, gateway: str, receipt: Receipt) -> None: ...

    def settle_recent(self) -> None: ...


@dataclass
class _Pending:
    """One submit_sm waiting for its submit_sm_resp."""

    done: threading.Event = field(default_factory=threading.Event)
    status: int = ESME_ROK
    message_id: str = ""
    error: str = ""

    def resolve(self, status: int, message_id: str = "", error: str = "") -> None:
        if not self.done.is_set():
            self.status, self.message_id, self.error = status, message_id, error
            self.done.set()


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1").rstrip("\0")
    return str(value or "").rstrip("\0")


def _status_text(status: int) -> str:
    return str(smpplib.consts.DESCRIPTIONS.get(status, "unknown status"))


class _Client(smpplib.client.Client):  # type: ignore[misc]
    """smpplib's client, safe for one reading and several writing threads: every write (ours,
    and the automatic deliver_sm_resp / enquire_link_resp) and every sequence number is taken
    under one lock; the last PDU read is kept, so an unbind from the SMSC can be answered."""

    def __init__(self, lock: threading.RLock, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.write_lock = lock
        self.last_pdu: Any = None

    def next_sequence(self) -> int:
        with self.write_lock:
            return int(super().next_sequence())

    def send_pdu(self, p: Any) -> bool:
        with self.write_lock:
            return bool(super().send_pdu(p))

    def read_pdu(self) -> Any:
        self.last_pdu = super().read_pdu()
        return self.last_pdu


def parse_url(url: str) -> tuple[str, int]:
    host, _, port = url.removeprefix("smpp://").partition(":")
    return host, int(port)


class SmppSession:
    """A transceiver bind to one SMSC, kept up by its own thread."""

    def __init__(
        self,
        gateway: SmsGatewaySettings,
        sink: ReceiptSink | None,
        *,
        sweep_interval: float = 5.0,
    ) -> None:
        self.gateway = gateway
        self.name = gateway.url
        self.host, self.port = parse_url(gateway.url)
        self.sink = sink
        self.sweep_interval = sweep_interval
        self._client: _Client | None = None
        self._write = threading.RLock()
        self._pending: dict[int, _Pending] = {}
        self._bound = threading.Event()
        self._stop = threading.Event()
        self._last_error = "not connected yet"
        self._last_received = 0.0
        self._last_sent = 0.0
        self._thread = threading.Thread(
            target=self._run, name=f"obvo-smpp {self.host}:{self.port}", daemon=True
        )
        self.binds = 0  # successful binds, for status and tests

    # ---- lifecycle ----

    def start(self) -> None:
        self._thread.start()

    @property
    def bound(self) -> bool:
        return self._bound.is_set()

    def wait_bound(self, timeout: float) -> bool:
        return self._bound.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Unbind politely and end the thread."""
        self._stop.set()
        client = self._client
        if client is not None and self._bound.is_set():
            try:
                with self._write:
                    client.send_pdu(smpplib.smpp.make_pdu("unbind", client=client))
            except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError):
                pass
        self._thread.join(timeout)
        self._disconnect("stopped")

    # ---- the session thread ----

    def _run(self) -> None:
        wait = 1.0
        while not self._stop.is_set():
            try:
                self._connect_and_bind()
                wait = 1.0
                self._read_loop()
            except (
                smpplib.exceptions.ConnectionError,
                smpplib.exceptions.PDUError,
                OSError,
            ) as exc:
                reason = str(exc) or type(exc).__name__
                if not self._stop.is_set():
                    log.error("smpp.disconnected", gateway=self.name, error=reason, retry_in=wait)
                self._disconnect(reason)
            else:
                self._disconnect("the SMSC ended the session")
            if self._stop.wait(wait):
                break
            wait = min(wait * 2, MAX_RECONNECT_WAIT)

    def _connect_and_bind(self) -> None:
        g = self.gateway
        client = _Client(
            self._write,
            self.host,
            self.port,
            timeout=g.timeout,
            allow_unknown_opt_params=True,
            logger_name="vopi_obvo.smpplib",
        )
        client.set_message_sent_handler(self._on_submit_resp)
        client.set_message_received_handler(self._on_deliver)
        client.set_error_pdu_handler(self._on_error_pdu)
        try:
            client.connect()
            client.bind_transceiver(
                system_id=g.system_id, password=g.password, system_type=g.system_type
            )
        except smpplib.exceptions.PDUError as exc:
            client.disconnect()
            raise smpplib.exceptions.PDUError(f"bind refused: {exc.args[0]}") from None
        except BaseException:
            client.disconnect()
            raise
        with self._write:
            self._client = client
        now = time.monotonic()
        self._last_received = self._last_sent = now
        self.binds += 1
        self._bound.set()
        log.info("smpp.bound", gateway=self.name, system_id=g.system_id)

    def _read_loop(self) -> None:
        client = self._client
        assert client is not None  # noqa: S101 - set by _connect_and_bind
        sock = client._socket  # smpplib has no public accessor
        interval = self.gateway.enquire_link_interval
        last_sweep = time.monotonic()
        while not self._stop.is_set():
            readable, _, _ = select.select([sock], [], [], POLL_SECONDS)
            if readable:
                client.read_once(auto_send_enquire_link=False)
                self._last_received = time.monotonic()
                if client.last_pdu is not None and client.last_pdu.command == "unbind":
                    answer = smpplib.smpp.make_pdu("unbind_resp", client=client)
                    answer.sequence = client.last_pdu.sequence
                    self._send(answer)
                    return
                if client.state not in (
                    smpplib.consts.SMPP_CLIENT_STATE_BOUND_TRX,
                    smpplib.consts.SMPP_CLIENT_STATE_BOUND_TX,
                ):
                    return  # the SMSC unbound (or answered our unbind)
            now = time.monotonic()
            if now - self._last_received > 2 * interval + self.gateway.timeout:
                raise smpplib.exceptions.ConnectionError("no answer to enquire_link")
            if now - max(self._last_sent, self._last_received) >= interval:
                self._send(smpplib.smpp.make_pdu("enquire_link", client=client))
            if self.sink is not None and now - last_sweep >= self.sweep_interval:
                last_sweep = now
                try:
                    self.sink.settle_recent()
                except sa.exc.SQLAlchemyError as exc:
                    log.warning("smpp.settle_failed", error=str(exc).splitlines()[0])

    def _send(self, pdu: Any) -> None:
        client = self._client
        if client is None:
            raise smpplib.exceptions.ConnectionError("not connected")
        with self._write:
            client.send_pdu(pdu)
            self._last_sent = time.monotonic()

    def _disconnect(self, reason: str) -> None:
        self._bound.clear()
        self._last_error = reason
        with self._write:
            client, self._client = self._client, None
            pending, self._pending = self._pending, {}
        for waiting in pending.values():
            waiting.resolve(-1, error=f"connection lost: {reason}")
        if client is not None:
            with contextlib.suppress(OSError):
                client.disconnect()

    # ---- PDUs from the SMSC (session thread) ----

    def _on_submit_resp(self, pdu: Any, **_: Any) -> None:
        with self._write:
            waiting = self._pending.pop(pdu.sequence, None)
        if waiting is not None:
            waiting.resolve(int(pdu.status), _text(getattr(pdu, "message_id", "")))

    def _on_error_pdu(self, pdu: Any) -> None:
        # submit_sm_resp with an error status, or generic_nack: the sender waiting learns why.
        self._on_submit_resp(pdu)

    def _on_deliver(self, pdu: Any, **_: Any) -> int:
        esm_class = int(getattr(pdu, "esm_class", 0) or 0)
        if pdu.command != "deliver_sm" or not esm_class & ESM_CLASS_RECEIPT:
            log.info("smpp.incoming_ignored", gateway=self.name, command=pdu.command)
            return ESME_ROK
        receipt = parse_receipt(
            getattr(pdu, "short_message", None),
            getattr(pdu, "receipted_message_id", None),
            getattr(pdu, "message_state", None),
            getattr(pdu, "network_error_code", None),
        )
        if receipt is None:
            log.warning("smpp.receipt_unreadable", gateway=self.name)
            return ESME_ROK
        if self.sink is None:
            return ESME_ROK
        try:
            self.sink.receipt(self.name, receipt)
        except sa.exc.SQLAlchemyError as exc:
            # Not acknowledged: the SMSC keeps the receipt and delivers it again later.
            log.error("smpp.receipt_not_stored", gateway=self.name, error=str(exc).splitlines()[0])
            return ESME_RX_T_APPN
        return ESME_ROK

    # ---- submitting (dispatcher thread) ----

    def submit(self, message: OutgoingMessage, sender: str) -> list[str]:
        """Submit every part; the SMSC's message id per part, or a classified failure."""
        g = self.gateway
        try:
            built = build_message(message.body, message.notification_id)
        except ValueError as exc:
            raise PermanentFailure(f"SMPP: {exc}") from None
        if not self._bound.wait(g.timeout):
            raise TemporaryFailure(f"SMPP {self.name}: not bound ({self._last_error})")
        source, destination = source_address(sender), destination_address(message.recipient)
        waiting: list[_Pending] = []
        with self._write:
            client = self._client
            if client is None:
                raise TemporaryFailure(f"SMPP {self.name}: not bound ({self._last_error})")
            try:
                for part in built.parts:
                    pdu = smpplib.smpp.make_pdu(
                        "submit_sm",
                        client=client,
                        service_type="",
                        source_addr_ton=source.ton,
                        source_addr_npi=source.npi,
                        source_addr=source.value,
                        dest_addr_ton=destination.ton,
                        dest_addr_npi=destination.npi,
                        destination_addr=destination.value,
                        esm_class=built.esm_class,
                        data_coding=built.data_coding,
                        registered_delivery=1 if g.registered_delivery else 0,
                        short_message=part,
                    )
                    pending = _Pending()
                    self._pending[pdu.sequence] = pending
                    waiting.append(pending)
                    client.send_pdu(pdu)
                    self._last_sent = time.monotonic()
            except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError):
                # The session thread notices the broken socket and reconnects.
                raise TemporaryFailure(f"SMPP {self.name}: connection lost while sending") from None
        deadline = time.monotonic() + g.timeout
        ids: list[str] = []
        for number, pending in enumerate(waiting, start=1):
            if not pending.done.wait(max(deadline - time.monotonic(), 0.0)):
                raise TemporaryFailure(f"SMPP {self.name}: no submit_sm_resp in {g.timeout} s")
            if pending.error:
                raise TemporaryFailure(f"SMPP {self.name}: {pending.error}")
            if pending.status != ESME_ROK:
                text = (
                    f"SMPP submit_sm part {number}/{len(waiting)}: status 0x{pending.status:02X} "
                )
                text += PERMANENT_STATUSES.get(pending.status) or _status_text(pending.status)
                if pending.status in PERMANENT_STATUSES:
                    raise PermanentFailure(text)
                if pending.status in THROTTLING_STATUSES:
                    raise Throttled(text)
                raise TemporaryFailure(text)
            ids.append(pending.message_id)
        return ids


class SmppSender:
    """The Sender for one SMPP gateway; its session is shared and long-lived."""

    channel = "sms"

    def __init__(self, session: SmppSession, sender_id: str, sink: ReceiptSink | None) -> None:
        self.session = session
        self.sender_id = sender_id
        self.sink = sink
        self._released = False

    def send(self, message: OutgoingMessage) -> str | None:
        ids = self.session.submit(message, self.sender_id)
        if self.sink is not None and message.notification_id > 0:
            try:
                self.sink.parts_submitted(self.session.name, message.notification_id, ids)
            except sa.exc.SQLAlchemyError as exc:
                # Already with the SMSC: never send twice for this; its receipts go unmatched.
                log.error(
                    "smpp.parts_not_recorded",
                    notification_id=message.notification_id,
                    error=str(exc).splitlines()[0],
                )
        return ",".join(ids)

    def close(self) -> None:
        """The session stays bound between batches: receipts arrive on it."""

    def shutdown(self) -> None:
        if not self._released:
            self._released = True
            release_session(self.session)


# ---- one session per gateway and process ----

_sessions: dict[tuple[str, ...], SmppSession] = {}
_users: dict[tuple[str, ...], int] = {}  # senders holding each session (a reload overlaps)
_sessions_lock = threading.Lock()


def _key(gateway: SmsGatewaySettings, database: str) -> tuple[str, ...]:
    return (gateway.url, gateway.system_id, gateway.password, gateway.system_type, database)


def smpp_sender(settings: Settings, gateway: SmsGatewaySettings) -> SmppSender:
    """The sender for `gateway`, bound (or binding) on the process's shared session."""
    from vopi_obvo import db  # noqa: PLC0415
    from vopi_obvo.delivery.sms_receipts import ReceiptStore  # noqa: PLC0415

    database = f"{settings.database.url}#{settings.database.schema}"
    key = _key(gateway, database)
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            engine = db.obvo_engine(settings.database.url, settings.database.schema, pool_size=1)
            session = SmppSession(gateway, ReceiptStore(engine), sweep_interval=SWEEP_SECONDS)
            session.start()
            _sessions[key] = session
        _users[key] = _users.get(key, 0) + 1
    return SmppSender(session, settings.sms.sender, session.sink)


def release_session(session: SmppSession, *, force: bool = False) -> None:
    """One sender less; the last one (or `force`, at exit) unbinds."""
    with _sessions_lock:
        for key, known in list(_sessions.items()):
            if known is session:
                _users[key] = 0 if force else _users.get(key, 1) - 1
                if _users[key] > 0:
                    return
                del _sessions[key], _users[key]
    session.stop()
    sink = session.sink
    engine = getattr(sink, "engine", None)
    if isinstance(engine, sa.Engine):
        engine.dispose()


@atexit.register
def _unbind_all() -> None:
    with _sessions_lock:
        sessions = list(_sessions.values())
    for session in sessions:
        release_session(session, force=True)
