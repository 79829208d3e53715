"""Claims under faults: dead sessions seen at once, forgotten workers, batches cut short by the
database, poison messages, rows the database refuses. Real PostgreSQL, SMTP and SMS gateway."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from typing import Any

import psycopg
import sqlalchemy as sa

from tests.integration.senders.test_email_smtp import service_factory
from tests.integration.test_pipeline import apply_rules, attempts, notifications, subscribe
from tests.support import SmsGateway, SmtpServer, Vopi, wait_for
from vopi_obvo import store
from vopi_obvo.config import Settings
from vopi_obvo.daemon import Service
from vopi_obvo.senders import OutgoingMessage, Sender
from vopi_obvo.senders.factory import build_senders

# Heartbeats never age in these tests: whatever is taken back is taken back on other evidence.
NEVER_STALE = 600.0

__all__ = ["service_factory"]  # the fixture, shared with the e-mail tests


def stream_of(vopi: Vopi, settings: Settings, count: int, **contact: str) -> list[int]:
    """`count` events of one application whose party is subscribed (e-mail by default)."""
    apply_rules(settings)
    party = vopi.party()
    app = vopi.application(party)
    subscribe(settings, party, **(contact or {"email": "janez@example.si"}))
    return vopi.events("KLAS", app, count)


def poll_all(service: Service) -> None:
    while service.poller.poll_once().batch_full:
        pass


def worker_with_claims(
    service_factory: Callable[[Settings], Service], settings: Settings
) -> tuple[Service, list[store.ClaimedNotification]]:
    """A registered worker that has read the events and claimed their notifications."""
    worker = service_factory(settings)
    worker.heartbeat()
    poll_all(worker)
    with worker.obvo.begin() as conn:
        claimed = store.claim_due(conn, worker.worker_id, 10, ["email"])
    return worker, claimed


def taken_back_by_another(
    service_factory: Callable[[Settings], Service], settings: Settings
) -> store.TakenBack:
    other = service_factory(settings)
    other.heartbeat()
    with other.obvo.begin() as conn:
        return other.dispatcher.take_back(conn)


def sql(settings: Settings, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(settings.database.url, autocommit=True) as conn:
        cur = conn.execute(statement, params or None)
        return cur.fetchall() if cur.description else []


def worker_locks(settings: Settings) -> int:
    rows = sql(
        settings,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2"
        " AND classid = CAST(hashtext('obvo-worker:obvo') AS oid)"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    return int(rows[0][0])


def terminate_obvo_sessions(settings: Settings) -> None:
    """What a failover or `pg_terminate_backend` does to every session of OBVO's processes."""
    sql(
        settings,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name LIKE 'obvo%'"
        " AND pid <> pg_backend_pid()",
    )


def delivered_ids(smtp_server: SmtpServer) -> list[int]:
    return sorted(
        int(str(m.message["Message-ID"]).split(".")[1].split("@")[0]) for m in smtp_server.messages
    )


def test_claims_of_a_worker_whose_session_ended_come_back_at_the_next_dispatch(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpServer,
    service_factory: Callable[[Settings], Service],
) -> None:
    settings = make_settings(delivery__stale_worker_after=NEVER_STALE)
    stream_of(vopi, settings, 3)
    _dead, claimed = worker_with_claims(service_factory, settings)
    assert len(claimed) == 3
    # kill -9: the process's sessions end, its heartbeat is still fresh.
    terminate_obvo_sessions(settings)
    wait_for(lambda: worker_locks(settings) == 0)

    other = service_factory(settings)
    other.run(once=True)

    assert delivered_ids(smtp_server) == sorted(c.id for c in claimed)
    assert {r["status"] for r in notifications(settings)} == {"sent"}
    assert [o for _, o, _ in attempts(settings, claimed[0].id)] == ["taken_back", "sent"]


def test_a_live_workers_claims_stay_its_own_even_when_its_row_was_forgotten(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    service_factory: Callable[[Settings], Service],
) -> None:
    settings = make_settings(delivery__stale_worker_after=NEVER_STALE)
    stream_of(vopi, settings, 2)
    live, claimed = worker_with_claims(service_factory, settings)
    # A long outage: another process forgot the row (delete_dead_workers).
    sql(settings, "DELETE FROM obvo.workers WHERE id = %s", (live.worker_id,))

    taken = taken_back_by_another(service_factory, settings)
    assert (taken.pending, taken.failed) == ([], [])
    assert {r["status"] for r in notifications(settings)} == {"sending"}

    live.presence.beat()  # an upsert: the row is back, `status` lists the worker again
    assert sql(settings, "SELECT id FROM obvo.workers WHERE id = %s", (live.worker_id,)) == [
        (live.worker_id,)
    ]
    assert len(claimed) == 2


def test_claims_older_than_claim_timeout_come_back_from_a_live_worker(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    service_factory: Callable[[Settings], Service],
) -> None:
    settings = make_settings(delivery__stale_worker_after=NEVER_STALE, delivery__claim_timeout=60.0)
    stream_of(vopi, settings, 2)
    _hung, claimed = worker_with_claims(service_factory, settings)
    sql(
        settings,
        "UPDATE obvo.notifications SET claimed_at = now() - interval '61 seconds' WHERE id = %s",
        (claimed[0].id,),
    )
    taken = taken_back_by_another(service_factory, settings)
    assert taken.pending == [claimed[0].id]


def test_a_message_that_kills_its_sender_every_time_fails_at_max_attempts(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    service_factory: Callable[[Settings], Service],
) -> None:
    settings = make_settings(delivery__max_attempts=3)
    stream_of(vopi, settings, 1)
    service = service_factory(settings)
    poll_all(service)
    # The third process died while sending it (attempts were counted at each claim).
    sql(
        settings,
        "UPDATE obvo.notifications SET status = 'sending', attempts = 3,"
        " claimed_by = 'gone/1/abc', claimed_at = now()",
    )
    service.run(once=True)
    [row] = notifications(settings)
    assert (row["status"], row["attempts"]) == ("failed", 3)
    assert "max_attempts" in row["last_error"]


class Refusing:
    """A real sender that raises what a bug or a protocol library would, for one recipient."""

    def __init__(self, inner: Sender, bad: dict[str, Exception]) -> None:
        self.inner = inner
        self.channel = inner.channel
        self.bad = bad

    def send(self, message: OutgoingMessage) -> str | None:
        problem = self.bad.get(message.recipient)
        if problem is not None:
            raise problem
        return self.inner.send(message)

    def close(self) -> None:
        self.inner.close()


def test_any_exception_from_a_sender_is_that_messages_attempt_and_the_loop_goes_on(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
) -> None:
    settings = make_settings(delivery__retry_initial_delay=60.0, delivery__retry_max_delay=60.0)
    apply_rules(settings)
    apps = {}
    for email in ("bug@example.si", "ok@example.si"):
        party = vopi.party()
        apps[email] = vopi.application(party)
        subscribe(settings, party, email=email)
    party = vopi.party()
    broken = vopi.application(party)
    subscribe(settings, party, email="header@example.si")
    real = build_senders(settings)
    bad: dict[str, Exception] = {
        "bug@example.si": RuntimeError("a bug"),
        "header@example.si": UnicodeEncodeError("ascii", "č", 0, 1, "no such character"),
    }
    senders: dict[str, Sender] = {"email": Refusing(real["email"], bad), "sms": real["sms"]}
    events = {email: vopi.event("KLAS", app) for email, app in apps.items()}
    header_event = vopi.event("KLAS", broken)
    service = Service(settings, senders=senders)
    try:
        service.run(once=True)
    finally:
        service.close()
    by_event = {r["source_event_id"]: r for r in notifications(settings)}
    assert by_event[events["ok@example.si"]]["status"] == "sent"
    bug = by_event[events["bug@example.si"]]
    assert (bug["status"], bug["attempts"]) == ("pending", 1)
    assert "RuntimeError: a bug" in bug["last_error"]
    header = by_event[header_event]
    assert header["status"] == "failed"
    assert "cannot be sent as it is" in header["last_error"]
    assert [m.recipients for m in smtp_server.messages] == [["ok@example.si"]]


def test_a_row_the_database_refuses_fails_alone(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpServer,
) -> None:
    settings = make_settings()
    apply_rules(settings)
    events = {}
    for email in ("refused@example.si", "ok@example.si"):
        party = vopi.party()
        app = vopi.application(party)
        subscribe(settings, party, email=email)
        events[email] = vopi.event("KLAS", app)
    # A DBA's constraint trigger that refuses to mark one row sent (an integrity error).
    sql(
        settings,
        """
        CREATE FUNCTION obvo.refuse_sent() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.status = 'sent' AND NEW.recipient = 'refused@example.si' THEN
                RAISE EXCEPTION 'not this one' USING ERRCODE = 'check_violation';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_sent BEFORE UPDATE ON obvo.notifications
            FOR EACH ROW EXECUTE FUNCTION obvo.refuse_sent();
        """,
    )
    service = Service(settings)
    try:
        service.run(once=True)
    finally:
        service.close()
    by_event = {r["source_event_id"]: r for r in notifications(settings)}
    assert by_event[events["ok@example.si"]]["status"] == "sent"
    refused = by_event[events["refused@example.si"]]
    assert refused["status"] == "failed"
    assert "could not be recorded" in refused["last_error"]
    assert "not this one" in refused["last_error"]


def test_a_batch_cut_by_a_lost_connection_leaves_nothing_in_sending(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    smtp_server: SmtpServer,
    service_factory: Callable[[Settings], Service],
) -> None:
    # One at a time, so that exactly one message is with the server at the cut.
    settings = make_settings(delivery__stale_worker_after=NEVER_STALE, delivery__concurrency=1)
    stream_of(vopi, settings, 6)
    service = service_factory(settings)
    service.heartbeat()
    poll_all(service)

    class CutAfterFirst:
        """The database restarts while the second message is with the SMTP server."""

        channel = "email"

        def __init__(self, inner: Sender) -> None:
            self.inner = inner
            self.sent = 0

        def send(self, message: OutgoingMessage) -> str | None:
            self.sent += 1
            if self.sent == 2:
                terminate_obvo_sessions(settings)
            return self.inner.send(message)

        def close(self) -> None:
            self.inner.close()

    email = service.dispatcher.senders["email"]
    service.dispatcher.senders = {"email": CutAfterFirst(email)}
    # The worker's own session went with the cut: the batch stops after the message that was
    # with the server, and gives the rest back.
    with contextlib.suppress(sa.exc.OperationalError):
        service.dispatcher.dispatch_once()
    assert not [r for r in notifications(settings) if r["status"] == "sending"]
    service.discard_connections()  # what the loop does after a connection error
    service.heartbeat()
    while service.dispatcher.dispatch_once().claimed:
        pass
    rows = notifications(settings)
    assert {r["status"] for r in rows} == {"sent"}
    ids = delivered_ids(smtp_server)
    # The server took the message after the cut: its mark is written on a fresh connection,
    # so it is not sent again.
    assert sorted(ids) == sorted(r["id"] for r in rows)
    assert all([a[1] for a in attempts(settings, r["id"])] == ["sent"] for r in rows)


def test_sent_marks_written_twice_count_one_attempt(
    vopi: Vopi,
    make_settings: Callable[..., Settings],
    service_factory: Callable[[Settings], Service],
) -> None:
    # A retry after a commit whose answer was lost with the connection writes the same marks
    # again: nothing changes the second time.
    settings = make_settings(delivery__stale_worker_after=NEVER_STALE)
    stream_of(vopi, settings, 2)
    worker, claimed = worker_with_claims(service_factory, settings)
    now = dt.datetime.now(dt.UTC)
    marks = [store.SentMark(c.id, c.attempts, now, f"<obvo.{c.id}@test>") for c in claimed]
    for _ in range(2):
        with worker.obvo.begin() as conn:
            store.mark_sent_many(conn, worker.worker_id, marks)
    rows = notifications(settings)
    assert {r["status"] for r in rows} == {"sent"}
    assert all([a[1] for a in attempts(settings, r["id"])] == ["sent"] for r in rows)


class CountingHeld:
    """A real sender that, at every send, counts the claims its worker holds unsent."""

    def __init__(self, inner: Sender, settings: Settings) -> None:
        self.inner = inner
        self.channel = inner.channel
        self.settings = settings
        self.worker_id = ""  # the service's, once it is made
        self.held: list[int] = []

    def send(self, message: OutgoingMessage) -> str | None:
        [(count,)] = sql(
            self.settings,
            "SELECT count(*) FROM obvo.notifications WHERE status = 'sending' AND claimed_by = %s",
            (self.worker_id,),
        )
        self.held.append(int(count))
        return self.inner.send(message)

    def close(self) -> None:
        self.inner.close()


def test_a_batch_claims_again_before_its_threads_run_dry_and_holds_few_claims(
    vopi: Vopi, make_settings: Callable[..., Settings], smtp_server: SmtpServer
) -> None:
    # poll_interval bounds how long one batch goes on claiming: long here, so the whole backlog
    # is one dispatch however slow the machine.
    settings = make_settings(delivery__concurrency=2, source__poll_interval=60.0)
    events = stream_of(vopi, settings, 120)
    real = build_senders(settings)
    counting = CountingHeld(real["email"], settings)
    service = Service(settings, senders={"email": counting, "sms": real["sms"]})
    counting.worker_id = service.worker_id
    try:
        service.heartbeat()
        poll_all(service)
        limit = service.dispatcher.claim_limit()
        assert limit < len(events)
        result = service.dispatcher.dispatch_once()
        service.run(once=True)  # whatever one dispatch left (it ends when a claim is short)
    finally:
        service.close()
    assert limit < result.claimed == result.sent  # claimed again while sending
    assert len(delivered_ids(smtp_server)) == len(events)
    # Claimed a little at a time: never more than one claim's worth held (waiting, in flight,
    # or sent with the mark not yet written), as a crash may hold.
    assert 0 < max(counting.held) <= limit
