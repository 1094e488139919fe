"""A change feed page's items are UTF-8 JSON, whatever the connection's client encoding."""

from __future__ import annotations

from uuid import uuid4

import msgspec
import pytest
from psycopg_pool import ConnectionPool

from domain.contact import Contact
from domain.context import Actor, Context
from projections.changes.feed import ChangeFeed
from syncline.runtime import Runtime

NAME = "Zoë Ångström"  # in LATIN1 too, one byte a letter there


@pytest.mark.parametrize("encoding", ["UTF8", "LATIN1"])
def test_a_pages_items_are_utf8_json(runtime: Runtime, encoding: str) -> None:
    ctx = Context(uuid4(), Actor("system", "test"), "feed-encoding")
    contact = Contact.create(ctx, {"email": "zoe@example.com", "name": NAME}, id=uuid4())
    runtime.app.save(contact)
    assert runtime.wait_for_projections()
    with ConnectionPool(
        runtime.database_url, kwargs={"client_encoding": encoding}, min_size=1, open=True
    ) as pool:
        with pool.connection() as conn:
            assert conn.info.encoding == ("utf-8" if encoding == "UTF8" else "iso8859-1")
        page = ChangeFeed(pool).page(ctx.tenant_id, 0, 10)
    [(_, item)] = page.items
    assert NAME.encode() in item
    change = msgspec.json.decode(b"{" + item)
    assert change["id"] == str(contact.id)
    assert change["data"]["name"] == NAME
