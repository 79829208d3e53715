"""A throw-away PostgreSQL cluster of our own, for what the shared server cannot show: prepared
transactions (`max_prepared_transactions` is 0 there) and a hot standby streaming from it."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support import free_port

BINARIES = ("initdb", "pg_ctl", "pg_basebackup")


def cluster_tools_missing() -> str | None:
    """Why a cluster cannot be made here (None: it can)."""
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if missing:
        return f"PostgreSQL server binaries missing: {', '.join(missing)}"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser (initdb refuses root)"
    return None


def _as_server_user() -> list[str]:
    # initdb and postgres refuse to run as root: as root, run them as the postgres user.
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class Cluster:
    """One PostgreSQL server in a temporary directory, trust authentication on loopback."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @classmethod
    def create(cls, **settings: str) -> Cluster:
        directory = _owned_dir("obvo-pg-")
        _run("initdb", "-D", str(directory), "-U", "postgres", "--auth=trust", "-N", "-E", "UTF8")
        cluster = cls(directory, free_port())
        cluster._configure(settings)
        cluster.start()
        return cluster

    def standby(self) -> Cluster:
        """A hot standby streaming from this server (pg_basebackup -R)."""
        directory = _owned_dir("obvo-pg-standby-")
        directory.rmdir()  # pg_basebackup creates it
        _run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
            "-D", str(directory), "-R", "-X", "stream",
        )  # fmt: skip
        standby = Cluster(directory, free_port())
        standby._configure({"hot_standby": "on"})
        standby.start()
        return standby

    def start(self) -> None:
        _run("pg_ctl", "-D", str(self.directory), "-w", "-t", "60", "-l",
             str(self.directory / "server.log"), "start")  # fmt: skip

    def stop(self) -> None:
        subprocess.run(
            [*_as_server_user(), "pg_ctl", "-D", str(self.directory), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(self.directory, ignore_errors=True)

    def _configure(self, settings: dict[str, str]) -> None:
        lines = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.directory}'",
            "fsync": "off",
            "wal_level": "replica",
            "max_wal_senders": "4",
            **settings,
        }
        with (self.directory / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.writelines(f"{k} = {v}\n" for k, v in lines.items())


def _owned_dir(prefix: str) -> Path:
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    return directory


def _run(*command: str) -> None:
    result = subprocess.run(
        [*_as_server_user(), *command], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {result.stderr.strip() or result.stdout}")
