"""A resource only this test registers (`note`) goes through the API, the feed and webhooks.

It declares what docs/architecture.md lists for a new resource — the aggregate and its
registration, the data schema, the controller — and nothing else of
Syncline's changes: event types, the catalog, the change feed, the reference check and
webhook matching all come from the registry. It runs on a database of its own, so no other
test ever sees a `note`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import httpx
import msgspec
import pytest
from litestar import Controller, Request, Response, get, patch, post
from msgspec import UNSET, Meta, UnsetType

from api.app import create_app
from api.auth import Principal, scoped
from api.records import (
    change_record,
    changes_of,
    correlation_id,
    create_record,
    list_records,
    record_response,
)
from api.schemas.common import DATA_SCHEMAS, Input, Output
from api.services import ApiServices
from domain.context import Context
from domain.errors import InvalidFieldError
from domain.record import Record
from domain.resources import RegistryError, Resource, register, unregister
from syncline.config import Settings
from syncline.runtime import Runtime
from tests.conftest import ADMIN_TOKEN, ServerThread, provision
from tests.support.receiver import Receiver
from tests.support.webhooks import subscribe

MAX_TEXT = 200


# -- the domain part: the aggregate and its registration --------------------------------------
def validate_note(fields: dict[str, Any]) -> dict[str, Any]:
    text = fields.get("text")
    if not isinstance(text, str) or not 1 <= len(text) <= MAX_TEXT:
        raise InvalidFieldError("text", f"must be 1 to {MAX_TEXT} characters")
    return {"text": text, "contact_id": str(fields["contact_id"])}


class Note(Record):
    """A line of text about one of the tenant's contacts."""

    RESOURCE = "note"

    @classmethod
    def create(
        cls, ctx: Context, fields: dict[str, Any], *, id: UUID, request_hash: str | None = None
    ) -> Note:
        note: Note = cls._start(ctx, validate_note(fields), id=id, request_hash=request_hash)
        return note

    def update(self, ctx: Context, changes: dict[str, Any]) -> bool:
        return self._change(ctx, validate_note({**self.state, **changes}), self.Updated)


NOTE = Resource(
    Note,
    events={
        "created": "A note was written.",
        "updated": "A note's text or contact changed.",
        "deleted": "A note was deleted.",
    },
    references={"contact_id": "contact"},
)


# -- the API part: schemas and controller -----------------------------------------------------
class NoteCreate(Input):
    contact_id: UUID
    text: Annotated[str, Meta(min_length=1, max_length=MAX_TEXT)]


class NoteUpdate(Input):
    contact_id: UUID | UnsetType = UNSET
    text: Annotated[str, Meta(min_length=1, max_length=MAX_TEXT)] | UnsetType = UNSET


class NoteOut(Output):
    id: UUID
    contact_id: UUID
    text: str
    version: int
    created_at: datetime
    updated_at: datetime


class NoteController(Controller):
    path = "/notes"

    @post("/", **scoped("records:write", 413, 422))
    async def create(
        self, data: NoteCreate, request: Request[Principal, Any, Any], services: ApiServices
    ) -> Response[NoteOut]:
        """Write a note about a contact."""
        return await create_record(services, request, Note, data)

    @get("/", sync_to_thread=True, **scoped("records:read"))
    def list(self, request: Request[Principal, Any, Any], services: ApiServices) -> Any:
        """Live notes."""
        return list_records(
            services,
            "note",
            request.user.tenant_id,
            limit=100,
            cursor=None,
            updated_since=None,
        )

    @get("/{note_id:uuid}", sync_to_thread=True, **scoped("records:read", 404))
    def retrieve(
        self, note_id: UUID, request: Request[Principal, Any, Any], services: ApiServices
    ) -> Response[NoteOut]:
        """One note."""
        ctx = request.user.context(correlation_id(request))
        return record_response(services.app.get_record(Note, ctx, note_id))

    @patch("/{note_id:uuid}", sync_to_thread=True, **scoped("records:write", 404, 422))
    def update(
        self,
        note_id: UUID,
        data: NoteUpdate,
        request: Request[Principal, Any, Any],
        services: ApiServices,
    ) -> Response[NoteOut]:
        """Change a note."""
        changes = changes_of(data)
        note = change_record(services, request, Note, note_id, lambda n, c: n.update(c, changes))
        return record_response(note)


@pytest.fixture
def registered_note() -> Iterator[None]:
    register(NOTE)
    try:
        yield
    finally:
        unregister("note")
        DATA_SCHEMAS.remove("note")


@dataclasses.dataclass
class NoteWorld:
    runtime: Runtime
    admin: httpx.Client


@pytest.fixture
def note_world(
    registered_note: None, fresh_database: str, test_settings: Settings
) -> Iterator[NoteWorld]:
    """Syncline on a database of its own, with `note` registered in every layer, its API
    serving the notes controller, every projection and a delivery worker running."""
    DATA_SCHEMAS.add("note", msgspec.json.schema(NoteOut))
    runtime = Runtime.open(
        dataclasses.replace(test_settings, database_url=fresh_database), pool_size=4
    )
    try:
        runtime.start_projections(poll_interval=0.2)
        runtime.start_delivery(poll_interval=0.2, timeout=5.0)
        app = create_app(runtime.api_services(), extra_routers=[NoteController])
        with (
            ServerThread(app) as server,
            httpx.Client(
                base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
            ) as admin,
        ):
            yield NoteWorld(runtime, admin)
    finally:
        runtime.close()


def test_a_registered_resource_is_served_fed_and_delivered(note_world: NoteWorld) -> None:
    tenant = provision(note_world.admin, "Notary")
    with tenant.client, Receiver() as receiver:
        catalog = {t["name"]: t for t in tenant.get("/v1/event-types").json()["data"]}
        assert catalog["note.updated"]["description"] == "A note's text or contact changed."
        assert catalog["note.created"]["schema"] == msgspec.json.schema(NoteOut)
        subscribe(tenant, f"{receiver.url}/notes", ["note.*"])
        contact = tenant.post("/v1/contacts", json={"email": "ada@example.com"}).json()

        # The reference check runs in the application, on create and on change.
        missing = tenant.post("/v1/notes", json={"contact_id": str(UUID(int=1)), "text": "lost"})
        assert missing.status_code == 422, missing.text
        assert missing.json()["errors"][0]["field"] == "contact_id"
        created = tenant.post("/v1/notes", json={"contact_id": contact["id"], "text": "hello"})
        assert created.status_code == 201, created.text
        note = created.json()
        assert created.headers["location"] == f"/v1/notes/{note['id']}"
        moved = tenant.patch(f"/v1/notes/{note['id']}", json={"contact_id": str(UUID(int=2))})
        assert moved.status_code == 422, moved.text
        edited = tenant.patch(f"/v1/notes/{note['id']}", json={"text": "hello again"})
        assert edited.status_code == 200, edited.text
        assert tenant.get(f"/v1/notes/{note['id']}").json()["version"] == 2

        # Listed at once: the records table is written with the events (no table of its own).
        listed = tenant.get("/v1/notes").json()["data"]
        assert [(n["id"], n["text"]) for n in listed] == [(note["id"], "hello again")]
        assert note_world.runtime.wait_for_projections(timeout=30)
        feed = tenant.get("/v1/changes", params={"resource_types": "note"}).json()["data"]
        assert [(c["resource_type"], c["event_type"], c["id"]) for c in feed] == [
            ("note", "note.updated", note["id"])
        ]
        assert feed[0]["data"]["text"] == "hello again"

        assert receiver.wait_count(2, "/notes"), receiver.events()
        delivered = receiver.events("/notes")
        assert [(e["type"], e["data"]["id"]) for e in delivered] == [
            ("note.created", note["id"]),
            ("note.updated", note["id"]),
        ]


def test_a_resource_without_its_parts_stops_the_process_at_start(
    registered_note: None, runtime: Runtime
) -> None:
    with pytest.raises(RegistryError, match="resource 'note' has no data schema"):
        create_app(runtime.api_services())
    with pytest.raises(RegistryError, match="registered twice"):
        register(NOTE)
