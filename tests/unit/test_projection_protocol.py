"""The Projection protocol's defaults, and the advisory-lock keys named in projections.locks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from projections import locks
from projections.protocol import PreparingProjection, Projection
from syncline.runtime import all_projections

BATCH = [(1, "a"), (2, "b")]


class Plain(Projection):
    name = "plain"

    def __init__(self) -> None:
        self.processed: list[Sequence[tuple[int, Any]]] = []

    def process(self, cur: psycopg.Cursor[Any], events: Sequence[tuple[int, Any]]) -> None:
        self.processed.append(events)

    def clear(self, cur: psycopg.Cursor[Any]) -> None:
        pass


class TwoStage(PreparingProjection):
    name = "two-stage"

    def __init__(self) -> None:
        self.written: list[Any] = []

    def prepare(self, events: Sequence[tuple[int, Any]]) -> list[int]:
        return [position for position, _ in events]

    def write(self, cur: psycopg.Cursor[Any], prepared: list[int]) -> None:
        self.written.append(prepared)

    def clear(self, cur: psycopg.Cursor[Any]) -> None:
        pass


def test_a_plain_projection_goes_first_and_writes_its_batch_through_process() -> None:
    plain = Plain()
    assert plain.catches_up_later is False
    prepared = plain.prepare(BATCH)
    assert prepared == BATCH
    plain.write(None, prepared)  # type: ignore[arg-type]  # no database needed
    assert plain.processed == [BATCH]


def test_a_preparing_projection_processes_as_write_of_prepare() -> None:
    two = TwoStage()
    two.process(None, BATCH)  # type: ignore[arg-type]
    assert two.written == [[1, 2]]


def test_the_read_models_the_api_lists_from_are_inline() -> None:
    inline = {p.name for p in all_projections() if p.inline}
    assert inline == {"records", "tenants", "webhooks"}


def test_the_feed_and_the_subscriber_go_first_the_others_catch_up_later() -> None:
    later = {p.name: p.catches_up_later for p in all_projections()}
    assert later == {
        "records": False,  # the change feed reads its table
        "tenants": True,
        "events": True,
        "deliveries": False,
        "webhooks": True,
        "audit": True,
    }


def test_every_advisory_lock_key_is_distinct() -> None:
    keys = [locks.MIGRATION_LOCK, locks.EVENT_STORE_LOCK]
    keys += [locks.projection_lock(p.name) for p in all_projections()]
    assert len(set(keys)) == len(keys)
    assert locks.projection_lock("events") == locks.projection_lock("events")
    assert locks.projection_lock("events") != locks.projection_lock("records")
