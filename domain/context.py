"""Who asked for a change, on behalf of which tenant, in which request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class Actor:
    """The principal behind a change: an API key, an OAuth client, the operator, the system."""

    type: str
    id: str


SYSTEM = Actor(type="system", id="syncline")


@dataclass(frozen=True)
class Context:
    """Metadata every event records, so the public envelope can be built from the event alone."""

    tenant_id: UUID
    actor: Actor
    correlation_id: str

    def as_meta(self) -> dict[str, Any]:
        return {
            "tenant_id": str(self.tenant_id),
            "actor": {"type": self.actor.type, "id": self.actor.id},
            "correlation_id": self.correlation_id,
        }
