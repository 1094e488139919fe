"""Projection: what a ProjectionRunner runs, with every optional feature declared.

A projection subclasses `Projection` (or `PreparingProjection`) and so gets the defaults
of what it does not override: it goes first in a backlog, and it processes each batch in
one step, inside the batch's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import psycopg


class Projection(Protocol):
    """Turns events into rows. `process` runs inside the batch's transaction.

    `catches_up_later = True`: in a backlog it waits for the others of its process (see
    projections.priority.CatchUpOrder).

    `inline = True`: the group commit (syncline.group_commit) writes it in the same
    transaction as the events it follows, so a read that starts after a write returned sees
    it. `prepare` then gets the batch before the events have positions: each event comes
    with minus its place in the batch (-1, -2, ...). Its runner only catches up what the
    group commit did not write (a database from before, a rebuild, a save that bypassed
    it). Those are no positions: an inline projection must not store them. One inline
    projection may answer `with_insert`: one statement that inserts the batch and writes
    its rows, taking each position from the insert's answer (the records projection); the
    others' `write` runs after the insert, in its transaction.

    The runner calls `prepare` in its read-ahead thread and `write` in the batch's
    transaction; by default `prepare` answers the batch as it is and `write` is `process`.
    """

    name: str
    catches_up_later: bool = False
    inline: bool = False

    def process(self, cur: psycopg.Cursor[Any], events: Sequence[tuple[int, Any]]) -> None: ...

    def clear(self, cur: psycopg.Cursor[Any]) -> None: ...

    def prepare(self, events: Sequence[tuple[int, Any]]) -> Any:
        return events

    def write(self, cur: psycopg.Cursor[Any], prepared: Any) -> None:
        self.process(cur, prepared)

    def with_insert(
        self, schema: str, parameters: Sequence[Any], prepared: Any
    ) -> tuple[str, Sequence[Any]] | None:
        """An inline batch's insert and this projection's rows as one statement (None: the
        projection writes after the insert): a call of a function in `schema` (quoted)
        that does what `syncline_insert_events_inline()` does with `parameters`, then
        writes the rows, and answers the inserted events' notification ids in the batch's
        order. Only the first inline projection that answers one is written so (the group
        commit has one such projection: records); any other writes after the insert."""
        return None


class SelectiveProjection(Projection, Protocol):
    """A projection that reads only some events (`reads`): `prepare` keeps those, and
    answers None for a batch that has none, whose `write` does nothing. An inline batch
    that only the records projection writes is then one statement (syncline.inline)."""

    def reads(self, event: Any) -> bool: ...

    def prepare(self, events: Sequence[tuple[int, Any]]) -> list[tuple[int, Any]] | None:
        return [item for item in events if self.reads(item[1])] or None

    def write(self, cur: psycopg.Cursor[Any], prepared: list[tuple[int, Any]] | None) -> None:
        if prepared:
            self.process(cur, prepared)


class PreparingProjection(Projection, Protocol):
    """A projection whose batch work splits in two: `prepare` builds what a batch writes,
    in Python and without the database; `write` sends it inside the batch's transaction
    (`process(cur, events)` is `write(cur, prepare(events))`). While catching up, the
    runner prepares the next batch in its read-ahead thread while this one commits.
    `prepare` must not change anything the projection's `write` of an earlier batch reads.
    """

    def process(self, cur: psycopg.Cursor[Any], events: Sequence[tuple[int, Any]]) -> None:
        self.write(cur, self.prepare(events))

    def prepare(self, events: Sequence[tuple[int, Any]]) -> Any: ...

    def write(self, cur: psycopg.Cursor[Any], prepared: Any) -> None: ...
