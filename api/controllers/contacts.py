"""ContactController: `/v1/contacts`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import Parameter

from api.audit import history_response, state_then_response
from api.auth import Principal, scoped
from api.openapi_docs import header
from api.records import (
    IdempotencyKeyHeader,
    IfMatchHeader,
    change_record,
    changes_of,
    correlation_id,
    create_record,
    list_records,
    record_response,
)
from api.schemas.common import AsOfParam, CursorParam, Limit, VersionParam
from api.schemas.contacts import Contact, ContactCreate, ContactList, ContactUpdate
from api.schemas.events import EventPage
from api.services import ApiServices
from domain.contact import Contact as ContactRecord


class ContactController(Controller):
    path = "/contacts"
    tags = ["Contacts"]

    @post(
        "/",
        operation_id="CreateContact",
        summary="Create a contact",
        response_description="The contact created, at version 1.",
        response_headers=[
            header("Location", location="/v1/contacts/5b0e8f6a-7c3d-4e21-9a4b-0f1e2d3c4b5a"),
            header("ETag"),
            header("Idempotent-Replayed"),
        ],
        **scoped("records:write", 413, 422),
    )
    async def create(
        self,
        data: ContactCreate,
        request: Request[Principal, Any, Any],
        services: ApiServices,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[Contact]:
        """Create a contact. Emits `contact.created`."""
        return await create_record(services, request, ContactRecord, data)

    @get(
        "/",
        operation_id="ListContacts",
        summary="List contacts",
        response_description="A page of contacts, oldest first.",
        sync_to_thread=True,
        **scoped("records:read"),
    )
    def list(
        self,
        request: Request[Principal, Any, Any],
        services: ApiServices,
        limit: Limit = 100,
        cursor: CursorParam | None = None,
        updated_since: Annotated[
            datetime | None,
            Parameter(description="Only contacts updated at or after this time (ISO 8601)."),
        ] = None,
    ) -> Response[ContactList]:
        """List live contacts, oldest first, with cursor pagination."""
        return list_records(
            services,
            "contact",
            request.user.tenant_id,
            limit=limit,
            cursor=cursor,
            updated_since=updated_since,
        )

    @get(
        "/{contact_id:uuid}",
        operation_id="GetContact",
        summary="Get a contact",
        response_description="The contact (as it was then, with `version` or `as_of`).",
        response_headers=[header("ETag")],
        sync_to_thread=True,
        **scoped("records:read", 404),
    )
    def retrieve(
        self,
        contact_id: UUID,
        request: Request[Principal, Any, Any],
        services: ApiServices,
        version: VersionParam = None,
        as_of: AsOfParam = None,
    ) -> Response[Contact]:
        """Get a contact; its `ETag` is its version.

        With `version=N` or `as_of=<timestamp>`, the contact as it was then (404 before it
        was created, or once it was deleted)."""
        ctx = request.user.context(correlation_id(request))
        if version is not None or as_of is not None:
            return state_then_response(
                services, ContactRecord, ctx, contact_id, version=version, as_of=as_of
            )
        return record_response(services.app.get_record(ContactRecord, ctx, contact_id))

    @get(
        "/{contact_id:uuid}/history",
        operation_id="GetContactHistory",
        summary="Get a contact's history",
        response_description="A page of the contact's events, oldest first.",
        sync_to_thread=True,
        **scoped("records:read", 404),
    )
    def history(
        self,
        contact_id: UUID,
        request: Request[Principal, Any, Any],
        services: ApiServices,
        limit: Limit = 100,
        cursor: CursorParam | None = None,
    ) -> Response[EventPage]:
        """Every event of one contact, oldest first, as envelopes (deleted contacts too)."""
        ctx = request.user.context(correlation_id(request))
        return history_response(
            services, ContactRecord, ctx, contact_id, limit=limit, cursor=cursor
        )

    @patch(
        "/{contact_id:uuid}",
        operation_id="UpdateContact",
        summary="Update a contact",
        response_description="The contact after the change.",
        response_headers=[header("ETag")],
        sync_to_thread=True,
        **scoped("records:write", 404, 409, 412, 413, 422),
    )
    def update(
        self,
        contact_id: UUID,
        data: ContactUpdate,
        request: Request[Principal, Any, Any],
        services: ApiServices,
        if_match_header: IfMatchHeader = None,
    ) -> Response[Contact]:
        """Change some fields. Emits `contact.updated` (nothing when no value changes).

        With `If-Match`, a stale version is refused with 412."""
        changes = changes_of(data)
        contact = change_record(
            services, request, ContactRecord, contact_id, lambda c, ctx: c.update(ctx, changes)
        )
        return record_response(contact)

    @delete(
        "/{contact_id:uuid}",
        operation_id="DeleteContact",
        summary="Delete a contact",
        response_description="Deleted: the contact is gone from lists and reads.",
        sync_to_thread=True,
        status_code=204,
        **scoped("records:write", 404, 409, 412),
    )
    def remove(
        self,
        contact_id: UUID,
        request: Request[Principal, Any, Any],
        services: ApiServices,
        if_match_header: IfMatchHeader = None,
    ) -> None:
        """Delete a contact. Emits `contact.deleted`; the change feed keeps a tombstone."""
        change_record(services, request, ContactRecord, contact_id, ContactRecord.delete)
