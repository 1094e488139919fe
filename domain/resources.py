"""The resource registry: each record type's name, public events and references, in one place.

A resource (`contact`, `order`) is declared once, beside its aggregate, with `register`.
Everything that lists resources derives from the registry: the public event types, the
resource types of the change feed, the wildcard prefixes webhooks accept, the reference
check the application runs before saving.

Outer layers add their own part of each resource (the records table, the API's data
schema) to a `Parts` keyed by the same name; `Parts.check()` fails with a message naming
the missing part when a resource has none, so a forgotten part stops the process at start.
The domain knows nothing of tables or schemas.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from domain.event_classes import forget_answers

if TYPE_CHECKING:
    from domain.record import Record

T = TypeVar("T")


@dataclass(frozen=True)
class Resource:
    """One record type.

    `events` maps an event class name of the aggregate, lower-cased (`created`, `paid`), to
    the public event's description: `order.paid` is the public name of `Order.Paid`.
    `references` maps a field to the resource it must name (`contact_id` → `contact`): the
    application refuses a create or a change that names a missing or deleted one.
    """

    aggregate: type[Record]
    events: Mapping[str, str]
    references: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.aggregate.RESOURCE

    def event_types(self) -> dict[str, str]:
        """The public event types of this resource and their descriptions."""
        return {f"{self.name}.{verb}": text for verb, text in self.events.items()}


class RegistryError(RuntimeError):
    """A resource is declared twice, or lacks a part an outer layer needs."""


RESOURCES: dict[str, Resource] = {}
# Listeners called after every change of the registry (the derived views below).
_listeners: list[Callable[[], None]] = []


def register(resource: Resource) -> Resource:
    """Add a resource; its name must be new."""
    if not resource.name:
        raise RegistryError(f"{resource.aggregate.__qualname__} declares no RESOURCE name")
    if resource.name in RESOURCES:
        raise RegistryError(f"resource {resource.name!r} is registered twice")
    RESOURCES[resource.name] = resource
    _changed()
    return resource


def unregister(name: str) -> None:
    """Remove a resource (a test's own, when it ends)."""
    RESOURCES.pop(name, None)
    _changed()


def on_change(listener: Callable[[], None]) -> None:
    """Call `listener` now and after every change of the registry."""
    _listeners.append(listener)
    listener()


def _changed() -> None:
    for listener in _listeners:
        listener()


def resource_of(kind: type) -> Resource | None:
    """The resource whose aggregate is `kind`, or whose aggregate an event class `kind`
    belongs to (`Order.Paid` → order); None for anything else."""
    for resource in RESOURCES.values():
        aggregate = resource.aggregate
        if kind is aggregate or (
            kind.__module__ == aggregate.__module__
            and kind.__qualname__.split(".")[0] == aggregate.__qualname__
        ):
            return resource
    return None


class Parts(Generic[T]):
    """An outer layer's part of every resource (a table name, a data schema), by name.

    `what` and `where` make the error a reader can act on: "resource 'invoice' has no
    records table: add one in projections/records/projection.py (TABLES)".
    """

    def __init__(self, what: str, where: str, parts: Mapping[str, T] | None = None) -> None:
        self.what = what
        self.where = where
        self._parts: dict[str, T] = dict(parts or {})

    def add(self, name: str, part: T) -> None:
        self._parts[name] = part
        forget_answers()

    def remove(self, name: str) -> None:
        self._parts.pop(name, None)
        forget_answers()

    def __getitem__(self, name: str) -> T:
        try:
            return self._parts[name]
        except KeyError:
            raise self._missing(name) from None

    def get(self, name: str) -> T | None:
        return self._parts.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._parts)

    def items(self) -> list[tuple[str, T]]:
        """The registered resources' parts, in registration order. (A process checks that
        none is missing once, at start: `check`.)"""
        return [(name, self._parts[name]) for name in RESOURCES if name in self._parts]

    def values(self) -> list[T]:
        return [part for _, part in self.items()]

    def check(self) -> None:
        """Fail, naming the resource, unless every registered resource has its part."""
        for name in RESOURCES:
            if name not in self._parts:
                raise self._missing(name)

    def _missing(self, name: str) -> RegistryError:
        return RegistryError(f"resource {name!r} has no {self.what}: add one in {self.where}")
