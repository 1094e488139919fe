"""Fixtures of the integration tests."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

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
