"""The group-commit save path (syncline.group_commit.GroupCommitSaves) collects aggregates'
events itself; it must record what Application.save() records, and hand anything but plain
aggregates to the library."""

from __future__ import annotations

from uuid import uuid4

from eventsourcing.application import Application

from domain.application import Syncline
from domain.contact import Contact
from domain.context import Actor, Context
from syncline.group_commit import GroupCommitSaves
from tests.support.events import memory_app, stored_events

CTX = Context(uuid4(), Actor("system", "test"), "save")


class MemorySaves(GroupCommitSaves, Syncline):
    """The save path as the composition root mixes it in, on an in-memory event store."""


def tuned_app() -> MemorySaves:
    return MemorySaves(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def test_save_records_what_the_library_save_records() -> None:
    ours, theirs = tuned_app(), memory_app()
    ids = uuid4(), uuid4()
    for app, save in ((ours, ours.save), (theirs, lambda *a: Application.save(theirs, *a))):
        first = app.new_record(Contact, CTX, {"email": "a@example.com"}, id=ids[0])
        second = app.new_record(Contact, CTX, {"email": "b@example.com"}, id=ids[1])
        recordings = save(first, second)
        assert [r.domain_event.originator_id for r in recordings] == list(ids)
        assert first.collect_events() == []
        assert second.collect_events() == []
        first.update(CTX, {"name": "A"})
        assert len(save(first)) == 1
    mine, library = stored_events(ours), stored_events(theirs)
    assert [(e.originator_id, e.originator_version, e.topic) for e in mine] == [
        (e.originator_id, e.originator_version, e.topic) for e in library
    ]
    assert ours.repository.get(ids[0]).state["name"] == "A"


def test_events_and_none_go_to_the_library_save() -> None:
    app = tuned_app()
    contact = app.new_record(Contact, CTX, {"email": "c@example.com"})
    (created,) = contact.collect_events()
    recordings = app.save(None, created)  # an event, not an aggregate: the library's path
    assert len(recordings) == 1
    assert app.repository.get(contact.id).state["email"] == "c@example.com"
