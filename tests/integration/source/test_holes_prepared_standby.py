"""Hole evidence on a VOPI server of our own (issue 10, item 3): prepared transactions, whose
start is unknown, and a hot standby, whose pg_stat_activity shows only its own sessions."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql

from tests.integration.source.test_holes_under_faults import event_ids_notified, insert_event
from tests.integration.test_pipeline import apply_rules, holes, subscribe
from tests.support import ROOT, Vopi, wait_for
from tests.support_cluster import Cluster, cluster_tools_missing
from vopi_obvo.config import Settings
from vopi_obvo.daemon import Service
from vopi_obvo.ops.status import gather_status


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    why = cluster_tools_missing()
    if why:
        pytest.skip(why)
    primary = Cluster.create(max_prepared_transactions="4")
    yield primary
    primary.stop()


@pytest.fixture(scope="module")
def standby(cluster: Cluster) -> Iterator[Cluster]:
    replica = cluster.standby()
    yield replica
    replica.stop()


@pytest.fixture
def vopi_db(cluster: Cluster) -> Iterator[str]:
    """A fresh VOPI database (reference schema) on the cluster; its name."""
    name = f"vopi_{secrets.token_hex(4)}"
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(url_of(cluster, name), autocommit=True) as conn:
        conn.execute((ROOT / "sql" / "vopi_reference.sql").read_text(encoding="utf-8"))
    yield name
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def url_of(cluster: Cluster, database: str) -> str:
    return cluster.url.rsplit("/", 1)[0] + f"/{database}"


@pytest.fixture
def service_on(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., Service]]:
    made: list[Service] = []

    def factory(**overrides: object) -> Service:
        made.append(Service(make_settings(**overrides)))
        return made[-1]

    yield factory
    for service in made:
        service.close()


def test_a_transaction_prepared_after_its_hole_was_seen_still_blocks_it(
    cluster: Cluster, vopi_db: str, service_on: Callable[..., Service]
) -> None:
    vopi = Vopi(url_of(cluster, vopi_db))
    try:
        service = service_on(source__url=vopi.url)
        settings = service.settings
        apply_rules(settings)
        party = vopi.party()
        subscribe(settings, party, email="ana@example.si")
        case = vopi.application(party)
        service.run(once=True)
        # A transaction manager's branch (XA/JTA): begins, inserts, and is prepared only after
        # OBVO first saw its id missing; then its session is free again.
        xa = psycopg.connect(vopi.url)
        xa.tpc_begin("obvo-branch-1")
        held = insert_event(xa, "KLAS", case)
        clerk = vopi.event("ODLOC", case)
        service.run(once=True)
        assert holes(settings) == [held]
        xa.tpc_prepare()
        xa.close()
        for _ in range(3):  # PREPARE came after the hole: its time must not let the hole go
            service.run(once=True)
        assert holes(settings) == [held]
        report = gather_status(service.obvo, service.source, None, settings.source)
        assert report["holes"]["prepared_transactions"] == 1
        with psycopg.connect(vopi.url, autocommit=True) as coordinator:
            coordinator.execute("COMMIT PREPARED 'obvo-branch-1'")
        service.run(once=True)
        assert event_ids_notified(settings) == {held, clerk}
        assert holes(settings) == []
    finally:
        vopi.close()


def test_a_hot_standby_source_gives_holes_up_only_by_age(
    cluster: Cluster, standby: Cluster, vopi_db: str, service_on: Callable[..., Service]
) -> None:
    primary = Vopi(url_of(cluster, vopi_db))
    try:
        service = service_on(source__url=url_of(standby, vopi_db), source__hole_max_age=2.0)
        settings = service.settings
        wait_for(lambda: service.source.hole_evidence().in_recovery, timeout=30)
        assert "hot standby" in service.source.evidence_mode()
        apply_rules(settings)
        party = primary.party()
        subscribe(settings, party, email="ana@example.si")
        case = primary.application(party)
        service.run(once=True)
        rolled_back = psycopg.connect(primary.url)
        lost = insert_event(rolled_back, "KLAS", case)
        seen = primary.event("ODLOC", case)

        def polled(expected: list[int]) -> bool:
            service.run(once=True)
            return holes(settings) == expected

        wait_for(lambda: polled([lost]), timeout=30)  # replayed on the standby, hole seen
        first_seen = time.monotonic()
        rolled_back.rollback()
        rolled_back.close()
        report = gather_status(service.obvo, service.source, None, settings.source)
        assert report["holes"]["in_recovery"] is True
        assert report["holes"]["rule"].startswith("age: VOPI is a hot standby")
        # The standby shows none of the primary's sessions: no evidence; only the age rule.
        wait_for(lambda: polled([]), timeout=30)
        assert time.monotonic() - first_seen >= 1.5  # hole_max_age 2 s from VOPI's first sight
        assert event_ids_notified(settings) == {seen}
    finally:
        primary.close()
