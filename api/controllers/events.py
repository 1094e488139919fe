"""EventController: `/v1/events`, the tenant's immutable event log (auditors)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get
from litestar.params import Parameter
from litestar.response import Stream

from api.audit import event_page_body, with_cursor
from api.auth import Principal, scoped
from api.errors import ProblemError
from api.observability import correlation_id_of
from api.parameters import (
    change_cursor,
    change_position,
    event_types,
    invalid,
    require_not_ahead,
    timestamp,
)
from api.responses import json_response
from api.schemas.common import Limit
from api.schemas.events import EventEnvelope, EventPage
from api.services import ApiServices
from projections.audit.view import AuditView, ExportIncompleteError
from projections.events.log import EventLog

EXPORT_CHUNK = 256 * 1024  # bytes sent per step of the stream (each step is a thread hop)
log = logging.getLogger(__name__)


def chunks(lines: Iterator[bytes], correlation_id: str = "") -> Iterator[bytes]:
    """The export's lines, joined into chunks of about EXPORT_CHUNK bytes. An export that
    cannot be completed (ExportIncompleteError: a gap in the chain, an event that no longer
    decodes) sends the lines before it, logs an error and raises on: the server then drops
    the connection without ending the chunked body, so no client takes it for complete."""
    pending: list[bytes] = []
    size = 0
    try:
        for line in lines:
            pending.append(line)
            size += len(line)
            if size >= EXPORT_CHUNK:
                yield b"".join(pending)
                pending, size = [], 0
    except ExportIncompleteError as exc:
        log.error(
            "audit export incomplete",
            extra={
                "correlation_id": correlation_id,
                "tenant_id": str(exc.tenant_id),
                "sequence": exc.sequence,
                "reason": exc.reason,
            },
        )
        if pending:
            yield b"".join(pending)
        raise
    if pending:
        yield b"".join(pending)


TimestampParam = Parameter(description="ISO 8601 (UTC when no offset is given).")


class EventController(Controller):
    path = "/events"
    tags = ["Audit"]

    @get(
        "/",
        operation_id="ListEvents",
        summary="Read the event log",
        response_description="A page of events in commit order, and the cursor to continue from.",
        sync_to_thread=True,
        **scoped("events:read"),
    )
    def list(
        self,
        request: Request[Principal, Any, Any],
        services: ApiServices,
        after: Annotated[
            str | None,
            Parameter(
                max_length=2048,
                description="A cursor (`next_cursor`, an event's `cursor`, or a /v1/changes"
                " cursor): only events committed after it.",
            ),
        ] = None,
        types: Annotated[
            str | None,
            Parameter(
                description="Comma-separated event types; `order.*` matches every order event.",
            ),
        ] = None,
        entity_id: Annotated[
            UUID | None, Parameter(description="Only the events of this record.")
        ] = None,
        since: Annotated[
            str | None,
            Parameter(description="Only events that occurred at or after this time (ISO 8601)."),
        ] = None,
        until: Annotated[
            str | None,
            Parameter(description="Only events that occurred before this time (ISO 8601)."),
        ] = None,
        limit: Limit = 100,
    ) -> Response[EventPage]:
        """The tenant's events in commit order, each as the envelope webhooks deliver.

        The log is immutable and append-only: keep `next_cursor` and pass it as `after` to
        read what was committed since. `next_cursor` is never null, so you can tail the log;
        `has_more` says whether more events are already waiting.
        """
        tenant_id = request.user.tenant_id
        position = 0 if after is None else change_position(services, tenant_id, after, "after")
        selected = None if types is None else event_types(types)
        start = None if since is None else timestamp(since, "since")
        end = None if until is None else timestamp(until, "until")
        if start is not None and end is not None and start >= end:
            raise invalid("until", "must be later than since")
        page = EventLog(services.pool, services.app).page(
            tenant_id,
            after=position,
            limit=limit,
            types=selected,
            entity_id=entity_id,
            since=start,
            until=end,
        )
        if not page.items and after is not None:
            require_not_ahead(services, position, "after")
        last = page.items[-1][0] if page.items else position
        body = event_page_body(
            services,
            tenant_id,
            page.items,
            has_more=page.has_more,
            next_cursor=change_cursor(services, tenant_id, last),
        )
        return json_response(body)

    @get(
        "/export",
        operation_id="ExportEvents",
        summary="Export the event log with its hash chain (NDJSON)",
        response_description="The events, then the checkpoints, one JSON object per line.",
        sync_to_thread=True,
        media_type="application/x-ndjson",
        **scoped("events:read"),
    )
    def export(
        self,
        request: Request[Principal, Any, Any],
        services: ApiServices,
        after: Annotated[
            str | None,
            Parameter(
                max_length=2048,
                description="A cursor (an event's `cursor`, a /v1/events or /v1/changes"
                " `next_cursor`): export only the events committed after it.",
            ),
        ] = None,
    ) -> Stream:
        """Your events and checkpoints as NDJSON, streamed: one event envelope per line
        (as /v1/events shows it) with its chain `sequence` and `chain_hash`, in chain
        order, then one `{"checkpoint": {…}}` line per checkpoint of the exported range.
        With `after`, the first line is `{"export_start": {"sequence", "chain_hash"}}`:
        the chain just before the first exported event, so the export verifies on its own.
        `docs/audit/verify_export.py` checks an export with the public key alone.
        An export that meets a gap in the chain or an event that no longer decodes is
        aborted: the connection closes before the body ends (an incomplete chunked
        transfer), never as a clean end, and the error is logged with the request's id."""
        tenant_id = request.user.tenant_id
        position = None if after is None else change_position(services, tenant_id, after, "after")
        if position is not None:
            require_not_ahead(services, position, "after")
        lines = AuditView(services.pool).export(
            services.cursors, tenant_id, app=services.app, after_position=position
        )
        return Stream(
            chunks(lines, correlation_id_of(request.scope)), media_type="application/x-ndjson"
        )

    @get(
        "/{event_id:str}",
        operation_id="GetEvent",
        summary="Get an event",
        response_description="The event's envelope, as webhooks deliver it.",
        sync_to_thread=True,
        **scoped("events:read", 404),
    )
    def retrieve(
        self, event_id: str, request: Request[Principal, Any, Any], services: ApiServices
    ) -> Response[EventEnvelope]:
        """One event by its id (`evt_…`)."""
        tenant_id = request.user.tenant_id
        found = EventLog(services.pool, services.app).get(tenant_id, event_id)
        if found is None:
            raise ProblemError(404, f"no event {event_id}", slug="not-found")
        position, stored = found
        return json_response(
            with_cursor(change_cursor(services, tenant_id, position), stored).encode()
        )
