"""Database engines for OBVO's own state (PostgreSQL) and for VOPI (read-only, any engine)."""

from __future__ import annotations

import sqlalchemy as sa

from vopi_obvo import __version__


def sqlalchemy_url(url: str) -> str:
    """Accept plain `postgresql://` (what DBAs write) and use psycopg 3 for it."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError("a database URL must start with postgresql://")


def options(**settings: str) -> str:
    return " ".join(f"-c {k}={v}" for k, v in settings.items())


def obvo_engine(url: str, schema: str, pool_size: int = 3) -> sa.Engine:
    """OBVO's own tables; unqualified names resolve to OBVO's schema."""
    return sa.create_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=2,
        # No pre-ping: it doubles an idle poll's round trips. A connection broken by a database
        # restart fails its statement, SQLAlchemy discards the pool, and the daemon's loop logs
        # `database.unavailable` and reconnects on the next cycle.
        pool_pre_ping=False,
        connect_args={
            # Keepalives on the server's side of the connection: when a host running obvo dies
            # without closing its connections (power, network), PostgreSQL ends its session
            # within about half a minute, and with it the poller lock a standby waits for
            # (the default waits for the kernel's two hours).
            "options": options(
                search_path=f"{schema},public",
                tcp_keepalives_idle="10",
                tcp_keepalives_interval="5",
                tcp_keepalives_count="3",
            ),
            "application_name": f"obvo {__version__}",
            "connect_timeout": 10,
            # And on ours: a database server that vanished is noticed, not waited for.
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
        },
    )


def source_engine(url: str, statement_timeout: float) -> sa.Engine:
    """VOPI, read-only, with a short statement timeout; how depends on VOPI's engine
    (vopi_obvo/source/engines/), chosen by the URL's scheme."""
    from vopi_obvo.source import engines  # noqa: PLC0415 - the engines use this module

    return engines.for_url(url).create_engine(url, statement_timeout)


def is_connection_error(exc: BaseException) -> bool:
    """The database connection is gone (the batch ends; the loop reconnects), as opposed to
    an error about one row's data (integrity, data), which fails that row only."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError)
