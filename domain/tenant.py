"""Tenant: one customer organisation; every record, credential and event belongs to one."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.context import Context
from domain.errors import ConflictError, InvalidFieldError

MAX_NAME = 200


class Tenant(Aggregate):
    """A customer organisation, provisioned by the operator; `active` or `suspended`."""

    class Created(Aggregate.Created):
        name: str
        meta: dict[str, Any]

    class Suspended(Aggregate.Event):
        meta: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.status = "suspended"

    class Reactivated(Aggregate.Event):
        meta: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.status = "active"

    def __init__(self, name: str, meta: dict[str, Any]) -> None:
        self.name = name
        self.status = "active"

    @classmethod
    def create(cls, ctx: Context, name: str, *, id: UUID) -> Tenant:
        name = name.strip()
        if not 1 <= len(name) <= MAX_NAME:
            raise InvalidFieldError("name", f"must be 1 to {MAX_NAME} characters")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
            raise InvalidFieldError("name", "must not contain control characters")
        tenant: Tenant = cls._create(cls.Created, id=id, name=name, meta=ctx.as_meta())
        return tenant

    def suspend(self, ctx: Context) -> None:
        if self.status == "suspended":
            raise ConflictError(f"tenant {self.id} is already suspended")
        self.trigger_event(self.Suspended, meta=ctx.as_meta())

    def reactivate(self, ctx: Context) -> None:
        if self.status == "active":
            raise ConflictError(f"tenant {self.id} is already active")
        self.trigger_event(self.Reactivated, meta=ctx.as_meta())
