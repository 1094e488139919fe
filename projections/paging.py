"""Keyset paging: the one way every reader pages a listing.

A listing is ordered by a key (`Keyset`: one or more columns, compared as a row). A page
is fetched as one more row than asked for, which tells whether more follow without a
count; the key of the page's last row is where the next page starts. The readers turn
rows into items; the API turns that key into an opaque cursor and back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import psycopg

T = TypeVar("T")
U = TypeVar("U")
Row = tuple[Any, ...]


@dataclass(frozen=True)
class Page(Generic[T]):
    """Up to `limit` items; `next_key` is the last item's key when more follow, else None."""

    items: list[T]
    has_more: bool
    next_key: list[Any] | None

    def map(self, item: Callable[[T], U]) -> Page[U]:
        return Page([item(i) for i in self.items], self.has_more, self.next_key)


@dataclass(frozen=True)
class Keyset:
    """The order a listing pages in: `columns` (each with an optional cast for the key
    values a cursor carries, e.g. `created_at::timestamptz`), ascending or descending."""

    columns: Sequence[str]
    descending: bool = False

    def _names(self) -> list[str]:
        return [column.partition("::")[0] for column in self.columns]

    def after(self) -> str:
        """The predicate of the rows after a key (`(a, b) > (%s::t, %s::u)`)."""
        placeholders = ", ".join(
            f"%s::{cast}" if cast else "%s"
            for _, _, cast in (column.partition("::") for column in self.columns)
        )
        names = ", ".join(self._names())
        return f"({names}) {'<' if self.descending else '>'} ({placeholders})"

    def order_by(self) -> str:
        direction = " DESC" if self.descending else ""
        return "ORDER BY " + ", ".join(f"{name}{direction}" for name in self._names())


def keyset_page(
    conn: psycopg.Connection[Any],
    select: str,
    keyset: Keyset,
    *,
    where: Sequence[str] = (),
    params: Sequence[Any] = (),
    after: Sequence[Any] | None = None,
    limit: int,
    key: Callable[[Row], list[Any]],
) -> Page[Row]:
    """The `limit` rows of `select` (a `SELECT … FROM …` without WHERE or ORDER BY) that
    satisfy `where` (its `%s` bound to `params`) and follow `after` in `keyset` order.

    `key(row)` is a row's position in that order, as the values `after` takes back."""
    conditions = list(where)
    values = list(params)
    if after is not None:
        conditions.append(keyset.after())
        values += after
    query = select
    if conditions:
        query += " WHERE " + " AND ".join(conditions)
    query += f" {keyset.order_by()} LIMIT %s"
    rows = conn.execute(query, [*values, limit + 1]).fetchall()  # type: ignore[call-overload]
    has_more = len(rows) > limit
    rows = rows[:limit]
    return Page(list(rows), has_more, key(rows[-1]) if has_more else None)
