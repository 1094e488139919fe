"""`claim_row`: the claim's rows become `Claim`s by position, but only once the result's
column names are checked against the fields, so a column added out of order fails loudly
instead of shifting values into the wrong fields."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from uuid import uuid4

import pytest

from delivery.queue import Claim, claim_row


def cursor(names: tuple[str, ...]) -> SimpleNamespace:
    return SimpleNamespace(description=[SimpleNamespace(name=name) for name in names])


def test_rows_in_the_fields_order_become_claims() -> None:
    values = (
        uuid4(),
        uuid4(),
        7,
        uuid4(),
        "evt_1",
        "contact.created",
        "corr",
        b"{}",
        2,
        datetime.now(UTC),
        "https://example.com/hook",
        "plain:whsec_x",
        None,
        None,
    )
    claim = claim_row(cursor(Claim.__struct_fields__))(values)
    assert claim == Claim(*values)
    assert claim.delivery_id == 7
    assert claim.url == "https://example.com/hook"


def test_columns_out_of_order_are_refused() -> None:
    names = list(Claim.__struct_fields__)
    names[2], names[3] = names[3], names[2]
    with pytest.raises(TypeError, match="not Claim's fields"):
        claim_row(cursor(tuple(names)))
