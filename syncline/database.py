"""PostgreSQL: the configured server or an embedded one, connection pools, and the schema."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

from projections.locks import SCHEMA_LOCK

log = logging.getLogger(__name__)

# pgserver servers we started, kept alive for the life of the process.
_embedded: dict[Path, Any] = {}


def embedded_database_url(data_dir: Path) -> str:
    """Start (or join) the embedded PostgreSQL kept in `data_dir/pgdata`; answer its URL."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver does not need it.
        warnings.simplefilter("ignore")
        import pgserver  # imported lazily: only needed without DATABASE_URL

    pgdata = (data_dir / "pgdata").resolve()
    if pgdata not in _embedded:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        log.info("starting embedded PostgreSQL", extra={"pgdata": str(pgdata)})
        _embedded[pgdata] = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    return str(_embedded[pgdata].get_uri())


def resolve_database_url(database_url: str | None, data_dir: Path) -> str:
    """`DATABASE_URL` when set, else the embedded database."""
    return database_url or embedded_database_url(data_dir)


def with_dbname(url: str, dbname: str) -> str:
    """The same server, another database."""
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo("", **{k: v for k, v in params.items() if v is not None})


def eventsourcing_env(url: str, pool_size: int = 10) -> dict[str, str]:
    """The `eventsourcing` library's environment for a PostgreSQL URL."""
    params = conninfo_to_dict(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(params.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(params.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(params.get("port") or "5432"),
        "POSTGRES_USER": str(params.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(params.get("password") or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(pool_size),
        "POSTGRES_CONNECT_TIMEOUT": "30",
        "POSTGRES_PRE_PING": "n",
        "CREATE_TABLE": "y",
    }


def open_pool(url: str, *, min_size: int = 1, max_size: int = 10, name: str = "") -> ConnectionPool:
    """A psycopg connection pool for our own SQL (read models, outbox, tracking)."""
    pool = ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        name=name or None,
        open=False,
        kwargs={"autocommit": True},
        timeout=30,
    )
    pool.open(wait=True, timeout=60)
    return pool


def apply_schema(pool: ConnectionPool, statements: Iterable[str]) -> None:
    """Create our tables; idempotent, serialized across processes by an advisory lock."""
    with pool.connection() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]
