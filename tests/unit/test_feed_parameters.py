"""Parsing the feed's and the audit log's query parameters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from api.errors import ProblemError
from api.parameters import event_types, resource_types, timestamp
from domain.events import EVENT_TYPES


def test_event_types_expand_wildcards_and_deduplicate() -> None:
    orders = [t for t in EVENT_TYPES if t.startswith("order.")]
    assert event_types("order.*") == sorted(orders)
    assert event_types("order.paid, order.*,contact.created") == sorted(
        [*orders, "contact.created"]
    )


@pytest.mark.parametrize("value", ["order.shipped", "invoice.*", "*", "order", "", "order.paid,"])
def test_unknown_event_types_name_the_parameter(value: str) -> None:
    with pytest.raises(ProblemError) as raised:
        event_types(value)
    assert raised.value.status_code == 400
    assert raised.value.problem_extra["parameter"] == "types"


def test_resource_types() -> None:
    assert resource_types("order,contact,order") == ["contact", "order"]
    with pytest.raises(ProblemError, match="invoice"):
        resource_types("contact,invoice")


def test_timestamps_accept_offsets_and_default_to_utc() -> None:
    assert timestamp("2026-01-31T12:00:00Z", "since") == datetime(2026, 1, 31, 12, tzinfo=UTC)
    assert timestamp("2026-01-31T13:00:00+01:00", "since") == datetime(
        2026, 1, 31, 13, tzinfo=timezone(timedelta(hours=1))
    )
    assert timestamp("2026-01-31", "since") == datetime(2026, 1, 31, tzinfo=UTC)


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "12:00", "2026-01-31T25:00Z", ""])
def test_malformed_timestamps_name_the_parameter(value: str) -> None:
    with pytest.raises(ProblemError) as raised:
        timestamp(value, "as_of")
    assert raised.value.problem_extra["parameter"] == "as_of"
