"""SMTP throughput: one connection reused for a batch vs one connection per message.

Not a test: it prints figures and writes bench/results/smtp_reuse.json.

    .venv/bin/python bench/smtp_reuse.py [--messages N] [--rtt-ms MS] [--quick]

OBVO's EmailSender (the real one: MIME building, headers, HTML layout) sends N messages to
aiosmtpd on 127.0.0.1, running in a subprocess of this script (`--serve`) so that the server's
CPU is not charged to the client. Each mode is run with security "none" and "starttls" (a
certificate made for the run, verified through [email] ca_file) and AUTH PLAIN:

- reused: one EmailSender.send() per message, close() once at the end (what the dispatcher
  does for a batch);
- per message: close() after every send(), so every message pays TCP connect, EHLO, and with
  STARTTLS the TLS handshake and AUTH.

Loopback has no network delay, which flatters the per-message mode; `--rtt-ms` puts a relay in
front of the server that delays every chunk by half the round trip in each direction, as a
mail relay in another building or data centre would.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.support_tls makes the certificate

from vopi_obvo.config import EmailSettings  # noqa: E402
from vopi_obvo.ops.logsetup import configure_logging  # noqa: E402
from vopi_obvo.senders import OutgoingMessage  # noqa: E402
from vopi_obvo.senders.email import EmailSender  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "smtp_reuse.json"
USER, PASSWORD = "obvo", "bench-geslo"
BODY = (
    "Spoštovani,\n\nvaša vloga 354-12/2026 »Gradbeno dovoljenje« je 28. 11. 2026 ob 14:05 "
    "dobila klasifikacijsko oznako 354-1.\n\nLep pozdrav,\nMestna občina Koper\n"
)


# ---- the server subprocess ----


def serve(port: int, cert_dir: Path) -> None:
    """aiosmtpd with optional STARTTLS and AUTH; prints READY, runs until stdin closes."""
    from aiosmtpd.controller import Controller  # noqa: PLC0415
    from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session  # noqa: PLC0415

    from tests.support_tls import CertFiles, server_context  # noqa: PLC0415

    class Sink:
        count = 0

        async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
            self, server: SMTP, session: Session, envelope: Envelope
        ) -> str:
            Sink.count += 1
            return "250 OK"

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password.decode() == PASSWORD
        return AuthResult(success=ok, handled=False)

    files = CertFiles(cert_dir / "ca.pem", cert_dir / "server.pem", cert_dir / "server.key")
    controller = Controller(
        Sink(),
        hostname="127.0.0.1",
        port=port,
        tls_context=server_context(files),
        authenticator=authenticate,
        auth_require_tls=True,
        ready_timeout=10,
    )
    controller.start()
    print("READY", flush=True)
    sys.stdin.read()
    controller.stop()


# ---- a relay with network delay ----


class DelayRelay:
    """127.0.0.1:port → target, every chunk held back `one_way` seconds in each direction."""

    def __init__(self, target: int, one_way: float) -> None:
        self.target, self.one_way = target, one_way
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                time.sleep(self.one_way)
                sink.sendall(data)
        for s in (source, sink):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()


# ---- the client measurements ----


def run_mode(port: int, security: str, ca_file: Path, count: int, *, reuse: bool) -> float:
    settings = EmailSettings(
        port=port,
        security="starttls" if security == "starttls" else "none",
        ca_file=str(ca_file) if security == "starttls" else "",
        username=USER if security == "starttls" else "",
        password=PASSWORD if security == "starttls" else "",
        sender="Mestna občina Koper <obvestila@koper.si>",
        timeout=30.0,
    )
    sender = EmailSender(settings)
    messages = [
        OutgoingMessage(n, f"obcan{n}@example.si", f"Vloga {n} je uvrščena", BODY, key_event=True)
        for n in range(1, count + 1)
    ]
    started = time.perf_counter()
    for message in messages:
        sender.send(message)
        if not reuse:
            sender.close()
    sender.close()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--rtt-ms", type=float, default=0.0, help="simulated network round trip")
    parser.add_argument("--quick", action="store_true", help="100 messages")
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "CERT_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), Path(args.serve[1]))
        return 0
    configure_logging("warning", "console")
    count = 100 if args.quick else args.messages

    from tests.support_tls import make_certificates  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="obvo-bench-smtp-") as tmp:
        made = make_certificates(Path(tmp), "Bench")
        cert_dir = Path(tmp)
        for src, dst in ((made.ca_file, "ca.pem"), (made.cert_file, "server.pem")):
            src.rename(cert_dir / dst)
        made.key_file.rename(cert_dir / "server.key")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port), str(cert_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=os.environ | {"PYTHONPATH": str(ROOT)},
        )
        assert server.stdout is not None  # noqa: S101
        if server.stdout.readline().strip() != "READY":
            raise SystemExit("the SMTP server subprocess did not start")
        relay = DelayRelay(port, args.rtt_ms / 2000) if args.rtt_ms else None
        target = relay.port if relay else port
        results: dict[str, Any] = {}
        try:
            run_mode(target, "none", cert_dir / "ca.pem", 5, reuse=True)  # warm-up
            for security in ("none", "starttls"):
                for reuse in (True, False):
                    name = f"{security}/{'reused' if reuse else 'per-message'}"
                    seconds = run_mode(target, security, cert_dir / "ca.pem", count, reuse=reuse)
                    results[name] = {
                        "messages": count,
                        "seconds": round(seconds, 3),
                        "messages_per_second": round(count / seconds, 1),
                        "ms_per_message": round(1000 * seconds / count, 2),
                    }
                    print(
                        f"{name:24} {count / seconds:8.1f} msg/s  "
                        f"{1000 * seconds / count:7.2f} ms/msg",
                        file=sys.stderr,
                    )
        finally:
            if relay:
                relay.close()
            assert server.stdin is not None  # noqa: S101
            server.stdin.close()
            server.wait(timeout=30)
    for security in ("none", "starttls"):
        reused = results[f"{security}/reused"]["messages_per_second"]
        single = results[f"{security}/per-message"]["messages_per_second"]
        results[f"{security}/speedup"] = round(reused / single, 2)
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "rtt_ms": args.rtt_ms,
        "results": results,
    }
    print("\nmode                        msg/s   ms/msg")
    for name, figures in results.items():
        if isinstance(figures, dict):
            print(
                f"{name:24} {figures['messages_per_second']:8.1f} {figures['ms_per_message']:8.2f}"
            )
    for security in ("none", "starttls"):
        print(f"{security}: reusing the connection is {results[f'{security}/speedup']}x faster")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    previous: dict[str, Any] = {}
    if RESULTS.exists():
        previous = json.loads(RESULTS.read_text(encoding="utf-8"))
    previous[f"rtt_{args.rtt_ms:g}ms"] = report
    RESULTS.write_text(json.dumps(previous, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
