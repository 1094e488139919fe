"""Record: the base aggregate of a tenant's records; every event carries the full state."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.context import Context
from domain.envelope import isoformat, render_record
from domain.errors import ConflictError


class Record(Aggregate):
    """A tenant-owned record (contact, order).

    Each event stores the record's state after the change (event-carried state transfer), so
    the change feed, the audit log and webhooks render any event without replaying others.
    """

    RESOURCE = ""  # set by each record type (no annotation: it would make this a dataclass)

    class Created(Aggregate.Created):
        tenant_id: UUID
        state: dict[str, Any]
        meta: dict[str, Any]
        request_hash: str | None

    class Updated(Aggregate.Event):
        state: dict[str, Any]
        previous: dict[str, Any]
        meta: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.state = self.state

    class Deleted(Aggregate.Event):
        state: dict[str, Any]
        meta: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.deleted = True

    def __init__(
        self,
        tenant_id: UUID,
        state: dict[str, Any],
        meta: dict[str, Any],
        request_hash: str | None,
    ) -> None:
        self.tenant_id = tenant_id
        self.state = state
        self.request_hash = request_hash
        self.deleted = False

    @classmethod
    def _start(
        cls,
        ctx: Context,
        state: dict[str, Any],
        *,
        id: UUID,
        request_hash: str | None,
    ) -> Any:
        now = cls.Created.create_timestamp()
        return cls._create(
            cls.Created,
            id=id,
            timestamp=now,
            tenant_id=ctx.tenant_id,
            state={**state, "created_at": isoformat(now)},
            meta=ctx.as_meta(),
            request_hash=request_hash,
        )

    def _change(self, ctx: Context, new_state: dict[str, Any], event: type[Updated]) -> bool:
        """Record the fields that really change; answer whether anything did."""
        self._require_live()
        previous = {k: self.state.get(k) for k, v in new_state.items() if self.state.get(k) != v}
        if not previous and event is self.Updated:
            return False
        state = {**self.state, **new_state}
        self.trigger_event(event, state=state, previous=previous, meta=ctx.as_meta())
        return True

    def delete(self, ctx: Context) -> None:
        self._require_live()
        self.trigger_event(self.Deleted, state=self.state, meta=ctx.as_meta())

    def _require_live(self) -> None:
        if self.deleted:
            raise ConflictError(f"{self.RESOURCE} {self.id} is deleted")

    def representation(self) -> dict[str, Any]:
        """The record as the API, the change feed and webhooks show it."""
        return render_record(self.id, self.state, self.version, self.modified_on)
