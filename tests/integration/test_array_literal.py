"""array_literal(): PostgreSQL reads the msgspec-written literal as the list psycopg dumps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from projections.json import array_literal
from syncline.runtime import Runtime

ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
)
COLUMNS = {
    "uuid": st.uuids(),
    "int8": st.integers(min_value=-(2**63), max_value=2**63 - 1),
    "bool": st.booleans(),
    "timestamptz": st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES
    ),
    # Any text at all: quotes, backslashes, braces, commas, control characters, non-ASCII.
    "text": st.text(st.characters(exclude_characters="\x00")),
}


def arrays_of(kind: str) -> st.SearchStrategy[list[Any]]:
    return st.lists(st.none() | COLUMNS[kind], max_size=8)


@given(st.data())
def test_postgresql_reads_the_literal_as_the_list(runtime: Runtime, data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(sorted(COLUMNS)))
    values = data.draw(arrays_of(kind))
    with runtime.pool.connection() as conn:
        row = conn.execute(
            f"SELECT %s::{kind}[] IS NOT DISTINCT FROM %b::{kind}[], %s::{kind}[]",
            (array_literal(values), values, array_literal(values)),
        ).fetchone()
    assert row is not None
    assert row[0], (kind, values, row[1])
    assert row[1] == values


def test_a_list_that_needs_escapes_is_left_to_psycopg() -> None:
    assert array_literal(['say "hi"', "a\\b"]) == ['say "hi"', "a\\b"]
    assert array_literal(["contact.created", None, "order.paid"]) == (
        '{"contact.created",null,"order.paid"}'
    )
