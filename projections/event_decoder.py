"""EventDecoder: the log's stored events back into domain events, faster than the Mapper.

Projections decode every event of the log, and the eventsourcing Mapper's JSON transcoder
(the `json` module with a Python `object_hook` on every object) is most of a catch-up's
CPU time. This decoder reads the same stored bytes — nothing about how events are written
changes — with msgspec, then applies the application's own transcodings to the
`{"_type_": …, "_data_": …}` objects the transcoder wrote, bottom-up, as its `object_hook`
does. Most events hold transcoded values only at the top level (the timestamp, a tenant
id), which a count of the `"_type_"` keys in the stored bytes proves, and then only those
are visited (see `_transcode_state`). Anything msgspec refuses (the `json` module also
reads NaN and Infinity) is handed to the Mapper, so both always agree;
tests/unit/test_event_decoder.py checks that they do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.persistence import (
    JSONTranscoder,
    Mapper,
    StoredEvent,
    find_id_convertor,
    pass_through_convertor,
)
from eventsourcing.utils import resolve_topic

_json = msgspec.json.Decoder()
# The key of every transcoded object, as the JSON transcoder writes it. Inside a JSON string
# a quote is escaped, so these bytes appear only as the key `_type_` or the string value
# "_type_"; without a backslash in the bytes (no escape at all), no key is spelled
# differently.
_TYPE_KEY = b'"_type_"'
_ESCAPE = b"\\"
UUID_MEMO = 4096  # decoded UUIDs remembered (tenant ids); past it the memo starts again


class EventDecoder:
    """`decode(originator_id, originator_version, topic, state)` → the domain event, equal
    to what the application's Mapper answers for the same stored event."""

    def __init__(self, mapper: Mapper[Any]) -> None:
        self.mapper = mapper
        transcoder = mapper.transcoder
        # Only a plain JSON transcoder's bytes are read here; a cipher or a compressor
        # (or another transcoder) leaves every event to the Mapper.
        self.fast = (
            isinstance(transcoder, JSONTranscoder)
            and mapper.cipher is None
            and mapper.compressor is None
        )
        self.names = transcoder.names if isinstance(transcoder, JSONTranscoder) else {}
        # Decoded UUIDs by what was stored: an event's tenant id is one of a few, and
        # UUID(hex) is a third of the cost of decoding an event. UUIDs are immutable.
        self._uuids: dict[tuple[str, type, Any], UUID] = {}
        self._uuid_names = {
            name for name, transcoding in self.names.items() if transcoding.type is UUID
        }
        # Per topic, the top-level members the transcoder wrote objects for last time (the
        # timestamp, a tenant id): see `_transcode_state`.
        self._plans: dict[str, tuple[tuple[str, str], ...]] = {}
        self._classes: dict[tuple[str, type], tuple[type, Callable[[Any], Any] | None, int]] = {}

    def decode(self, originator_id: UUID, version: int, topic: str, state: bytes) -> Any:
        if not self.fast:
            return self._mapper_decode(originator_id, version, topic, state)
        try:
            event_state = self._transcode_state(_json.decode(state), state, topic)
        except Exception:  # NaN, an unknown transcoding, …: the Mapper decides (or raises)
            return self._mapper_decode(originator_id, version, topic, state)
        key = (topic, type(originator_id))
        found = self._classes.get(key)
        if found is None:
            found = self._classes[key] = self._event_class(*key)
        cls, convert_id, class_version = found
        event_state["originator_id"] = (
            originator_id if convert_id is None else convert_id(originator_id)
        )
        event_state["originator_version"] = version
        from_version = event_state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(event_state)
            from_version += 1
        event: Any = object.__new__(cls)
        object.__setattr__(event, "__dict__", event_state)
        return event

    @staticmethod
    def _event_class(topic: str, id_type: Any) -> tuple[type, Callable[[Any], Any] | None, int]:
        """A topic's event class, its originator id convertor (None: the id as it is) and
        its class version."""
        cls = resolve_topic(topic)
        convert_id = find_id_convertor(cls, id_type)
        # The pass-through convertor answers the id as it is: a call per event saved.
        found = None if convert_id is pass_through_convertor else convert_id
        return cls, found, getattr(cls, "class_version", 1)

    def _mapper_decode(self, originator_id: UUID, version: int, topic: str, state: bytes) -> Any:
        return self.mapper.to_domain_event(StoredEvent(originator_id, version, topic, state))

    def _transcode_state(self, value: Any, state: bytes, topic: str) -> Any:
        """`_transcode(value)`, visiting only the top level when that provably suffices.

        Each object the transcoder wrote has a `_type_` key, so the bytes hold at least as
        many `"_type_"` as there are such objects. If the top level's transcoded values
        (with scalar `_data_`) account for all of them, no other object needs decoding.
        Events of one topic have the same such members: the ones found for a topic are
        looked up first, and the others are not looked at when they account for all.
        """
        if type(value) is not dict or _ESCAPE in state:
            return self._transcode(value)
        count = state.count(_TYPE_KEY)
        plan = self._plans.get(topic)
        if plan is not None and len(plan) == count:
            found = []
            for key, name in plan:
                item = value.get(key)
                if type(item) is not dict or len(item) != 2 or item.get("_type_") != name:
                    break
                data = item.get("_data_", item)  # absent: not a transcoded value
                if type(data) is dict or type(data) is list:
                    break
                found.append((key, name, data))
            else:
                for key, name, data in found:
                    value[key] = self._decode_value(name, data)
                return value
        if _is_transcoded(value):
            return self._transcode(value)
        found = []
        for key, item in value.items():
            if type(item) is dict and len(item) == 2 and "_type_" in item and "_data_" in item:
                data = item["_data_"]
                if type(data) is dict or type(data) is list:
                    return self._transcode(value)  # a transcoded value holding others
                found.append((key, item["_type_"], data))
        if len(found) != count:
            return self._transcode(value)
        self._plans[topic] = tuple((key, name) for key, name, _ in found)
        for key, name, data in found:
            value[key] = self._decode_value(name, data)
        return value

    def _decode_value(self, name: str, data: Any) -> Any:
        """`names[name].decode(data)` for a scalar `data`; UUIDs are remembered."""
        if name not in self._uuid_names:
            return self.names[name].decode(data)
        memo_key = (name, type(data), data)
        hit = self._uuids.get(memo_key)
        if hit is not None:
            return hit
        decoded = self.names[name].decode(data)
        if type(decoded) is UUID:
            if len(self._uuids) >= UUID_MEMO:
                self._uuids.clear()
            self._uuids[memo_key] = decoded
        return decoded

    def _transcode(self, value: Any) -> Any:
        """The transcoder's `object_hook`, applied bottom-up over a decoded JSON value."""
        kind = type(value)
        if kind is dict:
            for key, item in value.items():
                if type(item) is dict or type(item) is list:
                    value[key] = self._transcode(item)
            if _is_transcoded(value):
                return self.names[value["_type_"]].decode(value["_data_"])
        elif kind is list:
            for index, item in enumerate(value):
                if type(item) is dict or type(item) is list:
                    value[index] = self._transcode(item)
        return value


def _is_transcoded(value: dict[str, Any]) -> bool:
    return len(value) == 2 and "_type_" in value and "_data_" in value
