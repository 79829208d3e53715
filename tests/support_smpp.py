"""A minimal SMPP 3.4 SMSC on loopback, written from the specification with struct only (not
with smpplib, so the client is checked against an independent reading of the protocol).

It speaks: bind_transceiver (checking the password), submit_sm → submit_sm_resp with a
message id, enquire_link → enquire_link_resp, unbind → unbind_resp, and it sends deliver_sm
delivery receipts (text and TLVs) per part, answered by deliver_sm_resp. Tests choose each
destination's outcome, refuse submits, throttle the next ones (ESME_RTHROTTLED), delay or
withhold receipts, and cut connections.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from contextlib import suppress
from dataclasses import dataclass

BIND_TRANSCEIVER, BIND_TRANSCEIVER_RESP = 0x00000009, 0x80000009
SUBMIT_SM, SUBMIT_SM_RESP = 0x00000004, 0x80000004
DELIVER_SM, DELIVER_SM_RESP = 0x00000005, 0x80000005
ENQUIRE_LINK, ENQUIRE_LINK_RESP = 0x00000015, 0x80000015
UNBIND, UNBIND_RESP = 0x00000006, 0x80000006
GENERIC_NACK = 0x80000000
ESME_RINVPASWD = 0x0000000E
ESME_RTHROTTLED = 0x00000058
STATE_CODES = {"DELIVRD": 2, "EXPIRED": 3, "UNDELIV": 5, "REJECTD": 8}


@dataclass
class Submitted:
    """One submit_sm as the SMSC read it."""

    message_id: str
    source_ton: int
    source_npi: int
    source: str
    dest_ton: int
    dest_npi: int
    destination: str
    esm_class: int
    registered_delivery: int
    data_coding: int
    short_message: bytes

    @property
    def udh(self) -> bytes:
        return self.short_message[: self.short_message[0] + 1] if self.esm_class & 0x40 else b""

    @property
    def payload(self) -> bytes:
        return self.short_message[len(self.udh) :]


@dataclass
class Outcome:
    state: str = "DELIVRD"  # stat: of the receipt
    error: int = 0  # network error code (GSM)
    delay: float = 0.0  # seconds before the receipt


def _cstr(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(b"\0", pos)
    return data[pos:end].decode("latin-1"), end + 1


def _pdu(command: int, status: int, sequence: int, body: bytes = b"") -> bytes:
    return struct.pack(">IIII", 16 + len(body), command, status, sequence) + body


def _tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


class SmppServer:
    def __init__(self, system_id: str = "obvo", password: str = "geslo") -> None:  # noqa: S107
        self.system_id = system_id
        self.password = password
        self.submitted: list[Submitted] = []
        self.binds: list[tuple[str, bool]] = []
        self.enquire_links = 0
        self.unbinds = 0
        self.receipts_acknowledged: list[tuple[str, int]] = []  # (message id, resp status)
        self.outcomes: dict[str, Outcome] = {}  # destination → receipt outcome
        self.refuse: dict[str, int] = {}  # destination → submit_sm_resp error status
        # The next `throttle` submit_sm are answered ESME_RTHROTTLED, as an SMSC over its
        # agreed rate does; every submit_sm's answer is in `answers`.
        self.throttle = 0
        self.answers: list[tuple[float, int]] = []  # (time.monotonic(), status) per submit_sm
        self.send_receipts = True
        self.answer_submits = True
        self.lock = threading.Lock()
        self._counter = 0
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.port = int(self._listener.getsockname()[1])
        self._connections: list[socket.socket] = []
        self._seq = 0x7000_0000
        self._stopped = False
        self._receipts_waiting: dict[int, tuple[socket.socket, Submitted]] = {}

    @property
    def url(self) -> str:
        return f"smpp://127.0.0.1:{self.port}"

    def start(self) -> SmppServer:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped = True
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self.drop_connections()

    def drop_connections(self) -> None:
        """Cut every open session, as a restarting SMSC or a broken network does."""
        with self.lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    # ---- network ----

    def _accept(self) -> None:
        while not self._stopped:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self.lock:
                self._connections.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> tuple[int, int, int, bytes] | None:
        header = self._exact(conn, 16)
        if header is None:
            return None
        length, command, status, sequence = struct.unpack(">IIII", header)
        body = self._exact(conn, length - 16)
        return None if body is None else (command, status, sequence, body)

    @staticmethod
    def _exact(conn: socket.socket, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            try:
                chunk = conn.recv(size - len(data))
            except OSError:
                return None
            if not chunk:
                return None
            data += chunk
        return data

    def _write(self, conn: socket.socket, data: bytes) -> None:
        with suppress(OSError), self.lock:
            conn.sendall(data)

    def _next_seq(self) -> int:
        with self.lock:
            self._seq += 1
            return self._seq

    # ---- protocol ----

    def _serve(self, conn: socket.socket) -> None:
        while (pdu := self._read(conn)) is not None:
            command, status, sequence, body = pdu
            if command == BIND_TRANSCEIVER:
                system_id, pos = _cstr(body, 0)
                password, pos = _cstr(body, pos)
                ok = system_id == self.system_id and password == self.password
                with self.lock:
                    self.binds.append((system_id, ok))
                status = 0 if ok else ESME_RINVPASWD
                self._write(conn, _pdu(BIND_TRANSCEIVER_RESP, status, sequence, b"test-smsc\0"))
            elif command == SUBMIT_SM:
                self._submit(conn, sequence, body)
            elif command == ENQUIRE_LINK:
                with self.lock:
                    self.enquire_links += 1
                self._write(conn, _pdu(ENQUIRE_LINK_RESP, 0, sequence))
            elif command == DELIVER_SM_RESP:
                with self.lock:
                    waiting = self._receipts_waiting.pop(sequence, None)
                    if waiting is not None:
                        self.receipts_acknowledged.append((waiting[1].message_id, status))
            elif command == UNBIND:
                with self.lock:
                    self.unbinds += 1
                self._write(conn, _pdu(UNBIND_RESP, 0, sequence))
                break
            elif command in (ENQUIRE_LINK_RESP, UNBIND_RESP):
                continue
            else:
                self._write(conn, _pdu(GENERIC_NACK, 0x03, sequence))
        with suppress(OSError):
            conn.close()

    def _submit(self, conn: socket.socket, sequence: int, body: bytes) -> None:
        _service_type, pos = _cstr(body, 0)
        source_ton, source_npi = body[pos], body[pos + 1]
        source, pos = _cstr(body, pos + 2)
        dest_ton, dest_npi = body[pos], body[pos + 1]
        destination, pos = _cstr(body, pos + 2)
        esm_class, _protocol_id, _priority = body[pos], body[pos + 1], body[pos + 2]
        _schedule, pos = _cstr(body, pos + 3)
        _validity, pos = _cstr(body, pos)
        registered_delivery, _replace, data_coding, _default_id, sm_length = body[pos : pos + 5]
        short_message = body[pos + 5 : pos + 5 + sm_length]
        with self.lock:
            refusal = self.refuse.get(destination, 0)
            if self.throttle > 0:
                self.throttle -= 1
                refusal = ESME_RTHROTTLED
            self.answers.append((time.monotonic(), refusal))
        if refusal:
            self._write(conn, _pdu(SUBMIT_SM_RESP, refusal, sequence))
            return
        with self.lock:
            self._counter += 1
            message_id = f"smsc-{self._counter:04d}"
            submitted = Submitted(
                message_id,
                source_ton,
                source_npi,
                source,
                dest_ton,
                dest_npi,
                destination,
                esm_class,
                registered_delivery,
                data_coding,
                short_message,
            )
            self.submitted.append(submitted)
            answer = self.answer_submits
        if answer:
            self._write(conn, _pdu(SUBMIT_SM_RESP, 0, sequence, message_id.encode() + b"\0"))
        if registered_delivery & 0x01 and self.send_receipts:
            outcome = self.outcomes.get(destination, Outcome())
            timer = threading.Timer(outcome.delay, self._receipt, (conn, submitted, outcome))
            timer.daemon = True
            timer.start()

    def _receipt(self, conn: socket.socket, submitted: Submitted, outcome: Outcome) -> None:
        now = time.strftime("%y%m%d%H%M")
        delivered = "001" if outcome.state == "DELIVRD" else "000"
        text = (
            f"id:{submitted.message_id} sub:001 dlvrd:{delivered} submit date:{now}"
            f" done date:{now} stat:{outcome.state} err:{outcome.error:03d} text:"
        ).encode("ascii")
        body = (
            b"\0"  # service_type
            + bytes((submitted.dest_ton, submitted.dest_npi))
            + submitted.destination.encode()
            + b"\0"  # from the handset
            + bytes((submitted.source_ton, submitted.source_npi))
            + submitted.source.encode()
            + b"\0"
            + bytes((0x04, 0, 0))  # esm_class: SMSC delivery receipt; protocol_id; priority
            + b"\0\0"  # schedule_delivery_time, validity_period
            + bytes((0, 0, 0, 0, len(text)))
            + text
            + _tlv(0x001E, submitted.message_id.encode() + b"\0")  # receipted_message_id
            + _tlv(0x0427, bytes((STATE_CODES.get(outcome.state, 7),)))  # message_state
        )
        if outcome.error:
            body += _tlv(0x0423, bytes((3,)) + outcome.error.to_bytes(2, "big"))  # GSM error
        sequence = self._next_seq()
        with self.lock:
            self._receipts_waiting[sequence] = (conn, submitted)
        self._write(conn, _pdu(DELIVER_SM, 0, sequence, body))

    def wait_acknowledged(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.receipts_acknowledged) >= count:
                    return
            time.sleep(0.02)
        raise AssertionError(f"fewer than {count} receipts acknowledged in {timeout} s")
