"""The text several projections write for one event, rendered once per process.

The records, change feed and event log projections (and the delivery subscriber) each
store the record's representation after an event; the event log and webhooks also embed it
in the envelope, next to the record id and the timestamp as text. A process's runners
share the decoded events (LogReader), so the first projection to need an event's text
renders it and the others reuse it: the same bytes, at a third of the cost.

The memo is keyed by the event object itself (its identity, held while it is memoized),
never by what it says: two databases in one process (the test suite) may hold events
with the same record id and version, and must not see each other's text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple
from uuid import UUID

import msgspec

from domain.envelope import envelope_text, event_id, isoformat, render_record_text, uuid_text

_encoder = msgspec.json.Encoder()
# Events memoized at most: a few of the LogReader's batches, which the runners of one
# process work through close together, or as many as a LogReader keeps now (`keep`),
# whichever is more. Past it the memo starts again.
CAPACITY = 16_384
_kept: Callable[[], int] | None = None


class EventText(NamedTuple):
    record_id: str  # str(event.originator_id)
    occurred_at: str  # isoformat(event.timestamp)
    representation: str  # render_record(...) of the event's state, as JSON

    def representation_raw(self) -> msgspec.Raw:
        """The representation, for embedding in a document msgspec encodes."""
        return msgspec.Raw(self.representation)


_memo: dict[int, tuple[Any, EventText]] = {}
_ids: dict[int, tuple[Any, str]] = {}


def keep(kept: Callable[[], int] | None) -> None:
    """Memoize at least as many events as `kept()` says: those a LogReader of the process
    keeps decoded (while it catches up) for the runners that catch up later, who would
    render them again otherwise. Live, it keeps none, and the memo its usual few. None:
    no reader any longer (its runtime closed)."""
    global _kept
    _kept = kept


def forget() -> None:
    """Drop every memoized text (and the events it holds): nobody is catching up."""
    _memo.clear()
    _ids.clear()


def _capacity() -> int:
    return CAPACITY if _kept is None else max(CAPACITY, _kept())


def event_text(event: Any) -> EventText:
    """The text of an event that carries a record's `state` (a record or webhook event)."""
    key = id(event)
    hit = _memo.get(key)
    if hit is not None and hit[0] is event:
        return hit[1]
    record_id = uuid_text(event.originator_id)
    occurred_at = isoformat(event.timestamp)
    representation = _encoder.encode(
        render_record_text(record_id, event.state, event.originator_version, occurred_at)
    ).decode()
    text = EventText(record_id, occurred_at, representation)
    if len(_memo) >= _capacity():
        _memo.clear()
    _memo[key] = (event, text)  # holding the event keeps its id from being reused
    return text


def public_event_id(event: Any) -> str:
    """`event_id(event.originator_id, event.originator_version)`, computed once per event
    in a process: the event log, the audit chain (twice: its row and the envelope it
    hashes) and webhook deliveries each need it. Memoized as `event_text` is."""
    key = id(event)
    hit = _ids.get(key)
    if hit is not None and hit[0] is event:
        return hit[1]
    originator_id = event.originator_id
    text = event_id(
        uuid_text(originator_id) if type(originator_id) is UUID else originator_id,
        event.originator_version,
    )
    if len(_ids) >= _capacity():
        _ids.clear()
    _ids[key] = (event, text)
    return text


def envelope_json(event: Any, event_type: str, cursor: str) -> bytes:
    """`msgspec.json.encode(envelope(event, event_type, cursor))`, from the event's text."""
    text = event_text(event)
    return _encoder.encode(
        envelope_text(
            event,
            event_type,
            cursor,
            text.record_id,
            text.occurred_at,
            text.representation_raw(),
            public_id=public_event_id(event),
        )
    )
