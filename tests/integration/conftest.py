"""Fixtures of the integration tests."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator

import pytest

from syncline.config import Settings
from syncline.runtime import Runtime
from tests.support.projections import SeenProjection


@pytest.fixture
def projection(runtime: Runtime) -> Iterator[SeenProjection]:
    seen = SeenProjection(f"seen_{secrets.token_hex(4)}")
    with runtime.pool.connection() as conn:
        for statement in seen.schema:
            conn.execute(statement)
    yield seen
    with runtime.pool.connection() as conn:
        conn.execute(f"DROP TABLE {seen.table}")
        conn.execute("DELETE FROM projection_tracking WHERE name = %s", (seen.name,))


@pytest.fixture
def idle_runtime(fresh_database: str, test_settings: Settings) -> Iterator[Runtime]:
    """Syncline on a database of its own, with no projection runner."""
    runtime = Runtime.open(dataclasses.replace(test_settings, database_url=fresh_database))
    try:
        yield runtime
    finally:
        runtime.close()
