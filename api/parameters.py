"""Query parameters of the feed and audit routes: change cursors, timestamps, type lists."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from api.errors import ProblemError
from api.services import ApiServices
from domain.events import EVENT_TYPES, RESOURCE_TYPES
from projections.changes.cursor import decode_change_cursor, encode_change_cursor
from projections.cursor import InvalidCursorError
from projections.paging import Page

MAX_LIST_ITEMS = 50


def invalid(parameter: str, detail: str, slug: str = "invalid-parameter") -> ProblemError:
    return ProblemError(400, f"{parameter} {detail}", slug=slug, parameter=parameter)


def change_position(services: ApiServices, tenant_id: UUID, cursor: str, parameter: str) -> int:
    """The log position a change cursor names; a 400 naming `parameter` if it is not valid."""
    try:
        return decode_change_cursor(services.cursors, tenant_id, cursor)
    except InvalidCursorError as exc:
        raise invalid(parameter, str(exc), slug="invalid-cursor") from None


def list_position(
    services: ApiServices, kind: str, tenant_id: UUID, cursor: str, size: int
) -> list[Any]:
    """The `size` values a list cursor of `kind` holds; a 400 naming `cursor` if it is not
    one this API issued for this tenant and listing."""
    try:
        position = services.cursors.decode(kind, tenant_id, cursor)
    except InvalidCursorError as exc:
        raise invalid("cursor", str(exc), slug="invalid-cursor") from None
    if len(position) != size:
        raise invalid("cursor", "is not a cursor this API issued", slug="invalid-cursor")
    return position


def page_cursor(services: ApiServices, kind: str, tenant_id: UUID, page: Page[Any]) -> str | None:
    """The cursor of the page after `page` (None when it is the last), for `list_position`."""
    if page.next_key is None:
        return None
    return services.cursors.encode(kind, tenant_id, page.next_key)


def change_cursor(services: ApiServices, tenant_id: UUID, position: int) -> str:
    return encode_change_cursor(services.cursors, tenant_id, position)


def require_not_ahead(services: ApiServices, position: int, parameter: str) -> None:
    """Refuse a position past the end of the log (a cursor from another deployment)."""
    head = services.app.recorder.max_notification_id() or 0  # type: ignore[attr-defined]
    if position > head:
        raise invalid(
            parameter,
            "is ahead of the event log; it was not issued by this deployment."
            " Start again without a cursor, or with cursor=now",
            slug="invalid-cursor",
        )


def timestamp(value: str, parameter: str) -> datetime:
    """An ISO 8601 timestamp; without an offset it is taken as UTC."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise invalid(
            parameter, f"must be an ISO 8601 timestamp such as 2026-01-31T12:00:00Z, not {value!r}"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def comma_list(value: str, parameter: str) -> list[str]:
    items = [item.strip() for item in value.split(",")]
    if not all(items) or len(items) > MAX_LIST_ITEMS:
        raise invalid(
            parameter, f"must be a comma-separated list of 1 to {MAX_LIST_ITEMS} non-empty names"
        )
    return items


def resource_types(value: str, parameter: str = "resource_types") -> list[str]:
    """`contact,order` → the resource types, each one known."""
    names = comma_list(value, parameter)
    unknown = [name for name in names if name not in RESOURCE_TYPES]
    if unknown:
        raise invalid(
            parameter,
            f"names unknown resource type {unknown[0]!r}; known: {', '.join(RESOURCE_TYPES)}",
        )
    return sorted(set(names))


def event_types(value: str, parameter: str = "types") -> list[str]:
    """`order.*,contact.created` → the event types it names (`<resource>.*` wildcards)."""
    selected: set[str] = set()
    for name in comma_list(value, parameter):
        matches = _matching(name)
        if not matches:
            raise invalid(
                parameter,
                f"names unknown event type {name!r}; known: {', '.join(EVENT_TYPES)}"
                " (and wildcards such as order.*)",
            )
        selected.update(matches)
    return sorted(selected)


def _matching(name: str) -> Iterable[str]:
    if name.endswith(".*"):
        prefix = name[:-1]
        return [t for t in EVENT_TYPES if t.startswith(prefix)]
    return [name] if name in EVENT_TYPES else []
