"""array_literal(): PostgreSQL reads the msgspec-written literal as the list psycopg dumps."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.envelope import isoformat
from projections.json import array_literal

ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(seconds=37))]
)
# Event timestamps are the moment an event was recorded (isoformat() writes years before
# 1000 unpadded, as it always has; PostgreSQL would not read those).
MOMENTS = st.datetimes(
    min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES
)
# What the projections send: each kind, its values, and how psycopg would send the list.
KINDS: dict[str, tuple[st.SearchStrategy[Any], str]] = {
    "uuid": (st.uuids(), "%b::uuid[]"),
    "int8": (st.integers(min_value=-(2**63), max_value=2**63 - 1), "%b::int8[]"),
    "bool": (st.booleans(), "%b::bool[]"),
    # Timestamps go as isoformat() text, never as datetimes (see array_literal).
    "timestamptz": (MOMENTS.map(isoformat), "%b::text[]::timestamptz[]"),
    # Text that takes the literal path: no escapes, but quotes' neighbours, braces, commas,
    # spaces, "null", non-ASCII...
    "text": (
        st.text(st.characters(exclude_categories=("Cc", "Cs"), exclude_characters='\\"')),
        "%b::text[]",
    ),
}
# ...and any text PostgreSQL can hold (no NUL; no lone surrogates, which are not UTF-8),
# which may need escapes and then goes to psycopg.
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"))


@pytest.fixture(scope="module")
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """One connection of the test's own: a pool growing in the background would draw from
    the `random` module while hypothesis draws examples, which hypothesis refuses."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


def check(conn: psycopg.Connection[Any], kind: str, values: list[Any]) -> None:
    _, dumped = KINDS[kind]
    row = conn.execute(
        f"SELECT %s::{kind}[] IS NOT DISTINCT FROM {dumped}, %s::{kind}[]::text",
        (array_literal(values), values, array_literal(values)),
    ).fetchone()
    assert row is not None
    assert row[0], (kind, values, row[1])


@given(st.data())
def test_postgresql_reads_the_literal_as_the_list(
    conn: psycopg.Connection[Any], data: st.DataObject
) -> None:
    kind = data.draw(st.sampled_from(sorted(KINDS)))
    values = data.draw(st.lists(st.none() | KINDS[kind][0], max_size=8))
    assert isinstance(array_literal(values), str), "these kinds always take the literal path"
    check(conn, kind, values)


@given(st.lists(st.none() | ANY_TEXT, max_size=8))
def test_any_text_arrives_as_it_was(
    conn: psycopg.Connection[Any], values: list[str | None]
) -> None:
    check(conn, "text", values)


def test_a_list_that_needs_escapes_is_left_to_psycopg() -> None:
    assert array_literal(['say "hi"', "a\\b", "new\nline"]) == ['say "hi"', "a\\b", "new\nline"]
    assert array_literal(["contact.created", None, "order.paid"]) == (
        '{"contact.created",null,"order.paid"}'
    )
