"""Processes starting together on a fresh database all come up (no DDL races)."""

from __future__ import annotations

import secrets
import threading

import psycopg

from syncline.config import Settings
from syncline.database import with_dbname
from syncline.runtime import Runtime


def test_runtimes_opening_at_once_on_an_empty_database_all_start(
    server_url: str, test_settings: Settings
) -> None:
    name = f"syncline_start_{secrets.token_hex(4)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    settings = Settings(database_url=with_dbname(server_url, name), data_dir=test_settings.data_dir)
    errors: list[BaseException] = []
    runtimes: list[Runtime] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        barrier.wait()
        try:
            runtimes.append(Runtime.open(settings, pool_size=2))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(runtimes) == 4
    finally:
        for rt in runtimes:
            rt.close()
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
