"""The envelope's identifiers and timestamps: fast paths equal the reference definitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID, uuid5

from hypothesis import given
from hypothesis import strategies as st

from domain.envelope import EVENT_ID_NAMESPACE, event_id, isoformat, uuid_text

ZONES = st.sampled_from(
    [
        UTC,
        timezone(timedelta(hours=2)),
        timezone(timedelta(hours=-9, minutes=-30)),
        timezone(timedelta(seconds=37)),  # historical local times have such offsets
    ]
)


@given(st.datetimes(timezones=ZONES))
def test_isoformat_is_utc_with_microseconds_and_z(moment: datetime) -> None:
    assert isoformat(moment) == moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ClockDatetime(datetime):
    """A datetime subclass, as test clocks (freezegun) and other libraries make them."""


@given(st.datetimes(timezones=ZONES))
def test_isoformat_of_a_datetime_subclass(moment: datetime) -> None:
    subclassed = ClockDatetime.fromisoformat(moment.isoformat())
    assert isoformat(subclassed) == isoformat(moment)


def test_isoformat_keeps_zero_microseconds() -> None:
    assert isoformat(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000000Z"


@given(st.uuids())
def test_uuid_text_is_str(value: UUID) -> None:
    assert uuid_text(value) == str(value)


@given(st.uuids(), st.integers(min_value=1, max_value=2**63 - 1))
def test_event_id_is_the_uuid5_of_record_and_version(record_id: UUID, version: int) -> None:
    expected = "evt_" + uuid5(EVENT_ID_NAMESPACE, f"{record_id}/{version}").hex
    assert event_id(record_id, version) == expected
