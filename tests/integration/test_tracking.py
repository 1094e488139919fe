"""Tracking: positions move in one statement for any number of projections, each only from
the position its batch started at."""

from __future__ import annotations

import secrets

import pytest

from projections import tracking
from projections.tracking import LeadershipLostError
from syncline.runtime import Runtime


def positions(runtime: Runtime, names: list[str]) -> list[int]:
    return [tracking.read_position(runtime.pool, name) for name in names]


def test_advance_many_moves_every_projection_or_none(runtime: Runtime) -> None:
    names = [f"tracked_{secrets.token_hex(4)}" for _ in range(3)]
    for name in names:
        tracking.ensure_tracking(runtime.pool, name)
    try:
        with runtime.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            tracking.advance_many(cur, [(name, 0) for name in names], 7)
        assert positions(runtime, names) == [7, 7, 7]

        # Another runner moved the second one: the batch must not apply to any of them.
        with runtime.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            tracking.advance(cur, names[1], 7, 9)
        with (
            pytest.raises(LeadershipLostError, match=f"{names[1]} at 7"),
            runtime.pool.connection() as conn,
            conn.transaction(),
            conn.cursor() as cur,
        ):
            tracking.advance_many(cur, [(name, 7) for name in names], 12)
        assert positions(runtime, names) == [7, 9, 7]
    finally:
        with runtime.pool.connection() as conn:
            conn.execute("DELETE FROM projection_tracking WHERE name = ANY(%s)", (names,))
