"""The keyset pager: pages follow each other without gaps or repeats, in either order."""

from __future__ import annotations

from typing import Any

import pytest

from projections.paging import Keyset, keyset_page
from syncline.runtime import Runtime

# Twelve rows keyed by (group, n): groups tie, so the second column decides within one.
ROWS = "SELECT g, n FROM (SELECT n / 5 AS g, n FROM generate_series(1, 12) AS n) AS t"


def all_pages(runtime: Runtime, keyset: Keyset, limit: int, **kwargs: Any) -> list[list[Any]]:
    pages: list[list[Any]] = []
    after = None
    with runtime.pool.connection() as conn:
        while True:
            page = keyset_page(
                conn, ROWS, keyset, after=after, limit=limit, key=lambda r: [r[0], r[1]], **kwargs
            )
            pages.append([row[1] for row in page.items])
            assert page.has_more == (page.next_key is not None)
            if not page.has_more:
                return pages
            after = page.next_key


@pytest.mark.parametrize("limit", [1, 5, 11, 12, 13])
def test_pages_cover_every_row_once_in_order(runtime: Runtime, limit: int) -> None:
    pages = all_pages(runtime, Keyset(("g::int", "n::int")), limit)
    assert [n for page in pages for n in page] == list(range(1, 13))
    assert all(len(page) == limit for page in pages[:-1])
    assert len(pages) == -(-12 // limit)  # a full last page says has_more=False itself


def test_descending_with_a_filter(runtime: Runtime) -> None:
    pages = all_pages(
        runtime, Keyset(("g::int", "n::int"), descending=True), 4, where=["n > %s"], params=[3]
    )
    assert pages == [[12, 11, 10, 9], [8, 7, 6, 5], [4]]


def test_an_empty_listing_is_one_empty_last_page(runtime: Runtime) -> None:
    pages = all_pages(runtime, Keyset(("g::int", "n::int")), 5, where=["n > %s"], params=[99])
    assert pages == [[]]
