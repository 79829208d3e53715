"""The installed `obvo` command, configured as a deployer would: a TOML file, `.env`, env vars."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import tomli_w

from tests.conftest import ON_EVERY_ENGINE
from tests.support import EXAMPLE_CONFIG, EXAMPLE_RULES, SmsGateway, SmtpServer, Vopi, wait_for
from vopi_obvo.config import DeliverySettings

OBVO = str(Path(sys.executable).with_name("obvo"))


class Deployment:
    """A config directory as an administrator sets it up, and a way to run `obvo` in it."""

    def __init__(
        self,
        directory: Path,
        database_url: str,
        smtp: SmtpServer,
        sms: SmsGateway,
        source_url: str = "",
    ) -> None:
        self.directory = directory
        self.config = directory / "obvo.toml"
        text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
        text = text.replace('url = "postgresql://obvo@127.0.0.1/vopi"', 'url = ""')
        text = text.replace("port = 25", f"port = {smtp.port}")
        text = text.replace('backend = "log"', 'backend = "http"')
        text = text.replace('url = "https://gateway.example/send"', f'url = "{sms.url}"')
        text = text.replace("poll_interval = 1.0", "poll_interval = 0.2")
        text = text.replace("stale_worker_after = 60.0", "stale_worker_after = 2.0")
        text = text.replace("retry_initial_delay = 30.0", "retry_initial_delay = 0.5")
        text = text.replace('start = "latest"', 'start = "earliest"')
        if source_url.startswith("mysql"):  # VOPI on MariaDB: its tables in its own database
            text = text.replace("vopi.", "")
        self.config.write_text(text, encoding="utf-8")
        # Secrets the way the README says: a .env beside the config.
        secrets = f"OBVO_DATABASE_URL={database_url}\nOBVO_SMS_TOKEN=from-dotenv\n"
        if source_url:
            secrets += f"OBVO_SOURCE_URL={source_url}\n"
        (directory / ".env").write_text(secrets, encoding="utf-8")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OBVO_")}
        self.env["OBVO_CONFIG"] = str(self.config)
        self.env["OBVO_LOGGING_FORMAT"] = "json"

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [OBVO, *args],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [OBVO, *args],
            cwd=self.directory,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def set_section(self, section: str, **values: object) -> None:
        """The deployer edits one section of the configuration file."""
        document = tomllib.loads(self.config.read_text(encoding="utf-8"))
        document.setdefault(section, {}).update(values)
        self.config.write_text(tomli_w.dumps(document), encoding="utf-8")

    @contextmanager
    def serving(self, command: str, port: int) -> Iterator[Served]:
        """`obvo COMMAND` (portal, console) started and answering /healthz on loopback `port`;
        on the way out it gets SIGTERM, and its output and exit code are in the Served."""
        served = Served(f"http://127.0.0.1:{port}", self.start(command))
        try:
            served.wait_until_healthy(command)
            yield served
        finally:
            served.stop()


@dataclass
class Served:
    """An installed web command running as a subprocess (Deployment.serving)."""

    base: str
    process: subprocess.Popen[str]
    output: str = ""

    def healthy(self) -> bool:
        try:
            return httpx.get(self.base + "/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def wait_until_healthy(self, command: str) -> None:
        # Generous: on a loaded CI machine the imports alone can take many seconds.
        wait_for(lambda: self.process.poll() is not None or self.healthy(), timeout=90)
        assert self.process.poll() is None, f"obvo {command} exited early"

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.output, _ = self.process.communicate(timeout=30)

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def events(self) -> set[str]:
        """The `event` of every JSON log line it wrote."""
        return {line["event"] for line in _json_lines(self.output)}


@pytest.fixture
def deployment(
    tmp_path: Path,
    database_url: str,
    source_url: str,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
) -> Deployment:
    """VOPI in OBVO's own database (PostgreSQL), or, @ON_EVERY_ENGINE, on MariaDB too."""
    vopi_url = "" if source_url == database_url else source_url
    return Deployment(tmp_path, database_url, smtp_server, sms_gateway, vopi_url)


@pytest.fixture
def ready(deployment: Deployment) -> Deployment:
    for args in (("migrate",), ("rules", "apply", str(EXAMPLE_RULES))):
        result = deployment.run(*args)
        assert result.returncode == 0, result.stderr
    return deployment


def count_rows(database_url: str, table: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(f"SELECT count(*) FROM obvo.{table}").fetchone()
    assert row is not None
    return int(row[0])


def test_version(deployment: Deployment) -> None:
    result = deployment.run("--version")
    assert result.returncode == 0
    assert re.match(r"obvo \d+\.\d+", result.stdout)


def test_deployer_path_end_to_end(
    ready: Deployment,
    vopi: Vopi,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
) -> None:
    assert ready.run("migrate").stdout.strip() == "schema obvo is up to date"
    check = ready.run("check")
    assert check.returncode == 0, check.stderr
    party = vopi.party()
    app = vopi.application(party)
    added = ready.run(
        "subscribers",
        "add",
        "--party",
        str(party),
        "--email",
        "Janez@Example.si",
        "--phone",
        "041 123 456",
    )
    assert added.returncode == 0, added.stderr
    listed = json.loads(ready.run("subscribers", "list", "--json").stdout)
    assert listed[0]["phone"] == "+38641123456"
    assert listed[0]["email"] == "Janez@example.si"
    vopi.event("KLAS", app)
    once = ready.run("once")
    assert once.returncode == 0, once.stdout + once.stderr
    assert len(smtp_server.messages) == 1
    [sms] = sms_gateway.messages
    assert sms.headers["Authorization"] == "Bearer from-dotenv"
    status = json.loads(ready.run("status", "--json").stdout)
    assert status["notifications"] == {"sent": {"email": 1, "sms": 1}}
    assert status["lag"]["events_behind"] == 0
    human = ready.run("status").stdout
    assert "sent" in human
    assert "holes pending     0" in human


def test_logs_never_show_a_citizens_address(ready: Deployment, vopi: Vopi) -> None:
    party = vopi.party()
    app = vopi.application(party)
    ready.run(
        "subscribers",
        "add",
        "--party",
        str(party),
        "--email",
        "ana.kos@example.si",
        "--phone",
        "040 555 666",
    )
    vopi.event("KLAS", app)
    result = ready.run("once")
    assert result.returncode == 0
    output = result.stdout + result.stderr
    assert "notification.sent" in output
    assert "ana.kos@example.si" not in output
    assert "+38640555666" not in output
    assert "a***@example.si" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--phone", "01 234"), "invalid phone number '01 234'"),
        (("--phone", "abc"), "invalid phone number 'abc'"),
        (("--email", "janez@"), "invalid e-mail address 'janez@'"),
        ((), "at least one channel"),
        (("--email", "a@example.si", "--language", "slovenski"), "--language"),
    ],
)
def test_bad_subscriber_input_is_refused_and_writes_nothing(
    ready: Deployment, database_url: str, args: tuple[str, ...], message: str
) -> None:
    result = ready.run("subscribers", "add", "--party", "7", *args)
    assert result.returncode == 78
    assert message in result.stderr
    assert count_rows(database_url, "subscribers") == 0


def test_broken_rules_file_names_the_event_type_and_writes_nothing(
    ready: Deployment, database_url: str, tmp_path: Path
) -> None:
    before = count_rows(database_url, "templates")
    bad = tmp_path / "bad.toml"
    bad.write_text(
        EXAMPLE_RULES.read_text(encoding="utf-8")
        .replace(
            'sms = "Vlogo {{ event.case_number }} resuje {{ event.clerk_name }}."',
            'sms = "Vlogo {{ event.case_number resuje"',
        )
        .replace(
            'kind = "key"\n[event_types.templates.sl]\nemail_subject = "Odločba',
            'kind = "urgent"\n[event_types.templates.sl]\nemail_subject = "Odločba',
        ),
        encoding="utf-8",
    )
    result = ready.run("rules", "apply", str(bad))
    assert result.returncode == 78
    assert (
        "event type DODELJ, language 'sl': template 'sms': syntax error on line 1" in result.stderr
    )
    assert "event type ODLOC: unknown kind 'urgent'" in result.stderr
    assert count_rows(database_url, "templates") == before


def test_rules_dry_run_changes_nothing(
    ready: Deployment, database_url: str, tmp_path: Path
) -> None:
    changed = tmp_path / "changed.toml"
    changed.write_text(
        EXAMPLE_RULES.read_text(encoding="utf-8").replace(
            'code = "DODELJ"\nname = "Vloga je dodeljena referentu"\nkind = "notify"',
            'code = "DODELJ"\nname = "Vloga je dodeljena referentu"\nkind = "key"',
        ),
        encoding="utf-8",
    )
    result = ready.run("rules", "apply", str(changed), "--dry-run")
    assert result.returncode == 0
    assert "changed   DODELJ: kind notify → key" in result.stdout
    assert "unchanged KLAS" in result.stdout
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT kind FROM obvo.event_types WHERE code = 'DODELJ'").fetchone()
    assert row == ("notify",)


def test_malformed_config_is_a_config_error(deployment: Deployment) -> None:
    deployment.config.write_text(
        deployment.config.read_text(encoding="utf-8")
        .replace("[delivery]", "[delivery]\nmax_attempt = 3")
        .replace('security = "none"', 'security = "ssl"'),
        encoding="utf-8",
    )
    result = deployment.run("run")
    assert result.returncode == 78
    assert "[delivery] unknown key 'max_attempt'" in result.stderr
    assert "[email] security: must be one of 'none', 'starttls', 'tls', not 'ssl'" in result.stderr


def test_wrong_columns_in_the_vopi_query_are_named(ready: Deployment) -> None:
    text = ready.config.read_text(encoding="utf-8")
    ready.config.write_text(text.replace("e.created_at      AS occurred_at,", ""), encoding="utf-8")
    check = ready.run("check")
    assert check.returncode == 1
    assert "events_query must return the column(s) occurred_at" in check.stderr
    run = ready.run("run")
    assert run.returncode == 78
    assert "occurred_at" in run.stderr


def test_unmigrated_database_refuses_to_run(
    tmp_path: Path, empty_database_url: str, smtp_server: SmtpServer, sms_gateway: SmsGateway
) -> None:
    deployment = Deployment(tmp_path, empty_database_url, smtp_server, sms_gateway)
    result = deployment.run("run")
    assert result.returncode == 78
    assert "run `obvo migrate` first" in result.stderr


def test_sigterm_stops_the_daemon_cleanly(ready: Deployment, database_url: str) -> None:
    process = ready.start("run")
    try:
        wait_for(lambda: count_rows(database_url, "workers") == 1, timeout=20)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, output
    assert "daemon.stopped" in output
    assert count_rows(database_url, "workers") == 0


@pytest.fixture
def event_writer(vopi: Vopi) -> Iterator[Callable[[int, int, float], threading.Thread]]:
    threads: list[threading.Thread] = []

    def start(application: int, count: int, per_second: float) -> threading.Thread:
        writer = Vopi(vopi.url)

        def write() -> None:
            try:
                for _ in range(count):
                    writer.event("KLAS", application)
                    time.sleep(1 / per_second)
            finally:
                writer.close()

        thread = threading.Thread(target=write, daemon=True)
        thread.start()
        threads.append(thread)
        return thread

    yield start
    for thread in threads:
        thread.join(timeout=30)


@pytest.mark.slow
@ON_EVERY_ENGINE
def test_kill_9_during_a_stream_then_restart_delivers_everything(
    ready: Deployment,
    vopi: Vopi,
    database_url: str,
    smtp_server: SmtpServer,
    sms_gateway: SmsGateway,
    event_writer: Callable[[int, int, float], threading.Thread],
) -> None:
    party = vopi.party()
    app = vopi.application(party)
    assert (
        ready.run(
            "subscribers",
            "add",
            "--party",
            str(party),
            "--email",
            "j@example.si",
            "--phone",
            "041 123 456",
        ).returncode
        == 0
    )
    total = 150
    writer = event_writer(app, total, 50.0)
    first = ready.start("run")
    try:
        wait_for(lambda: len(sms_gateway.messages) >= 20, timeout=30)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        first.kill()
    writer.join(timeout=30)
    second = ready.start("run")
    try:
        wait_for(
            lambda: (
                len({r.payload["reference"] for r in sms_gateway.messages}) >= total
                and len({str(m.message["Message-ID"]) for m in smtp_server.messages}) >= total
            ),
            timeout=60,
        )
        time.sleep(1.0)  # anything extra would show up now
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=20)
    finally:
        second.kill()
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT id, source_event_id, channel, status FROM obvo.notifications"
        ).fetchall()
    event_ids = vopi.event_ids()
    assert {r[3] for r in rows} == {"sent"}
    assert {(r[1], r[2]) for r in rows} == {(e, c) for e in event_ids for c in ("email", "sms")}
    sms_refs = Counter(r.payload["reference"] for r in sms_gateway.messages)
    mail_ids = Counter(str(m.message["Message-ID"]) for m in smtp_server.messages)
    assert set(sms_refs) == {str(r[0]) for r in rows if r[2] == "sms"}
    assert len(mail_ids) == total
    # At-least-once: only messages in flight at the kill may arrive twice: those being handed
    # over (up to [delivery] concurrency) and those accepted whose `sent` mark was still to be
    # written with the next few (up to concurrency more).
    duplicates = sum(n - 1 for n in sms_refs.values()) + sum(n - 1 for n in mail_ids.values())
    assert duplicates <= 2 * DeliverySettings().concurrency


def _json_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


@ON_EVERY_ENGINE
def test_check_names_vopis_engine_and_how_holes_end(ready: Deployment, engine_kind: str) -> None:
    check = ready.run("check")
    assert check.returncode == 0, check.stderr
    engine = {"postgresql": "PostgreSQL", "mariadb": "MariaDB/MySQL"}[engine_kind]
    assert f"VOPI engine: {engine}; hole evidence: full" in check.stdout
    if engine_kind == "mariadb":
        assert "VOPI engine: poll plan: range scan on the primary key of e" in check.stdout
        assert "VOPI engine: event_id: AUTO_INCREMENT of " in check.stdout
