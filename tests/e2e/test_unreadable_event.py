"""A stored event that no longer decodes (the event store altered or damaged) is named, with
where to look, by every read that meets it: a 500 problem that says what is wrong, not an
unexpected error. Other tenants' reads are unaffected. The row is put back at the end."""

from __future__ import annotations

import httpx

from syncline.runtime import Runtime
from tests.conftest import TenantClient, provision
from tests.integration.audit_helpers import set_state, stored_row
from tests.support.problems import assert_problem


def test_an_undecodable_stored_event_is_named_where_it_is_read(
    tenant: TenantClient, admin: httpx.Client, runtime: Runtime
) -> None:
    contact = tenant.post("/v1/contacts", json={"email": "damaged@example.com"})
    assert contact.status_code == 201, contact.text
    assert runtime.wait_for_projections()
    listed = tenant.get("/v1/events").json()["data"]
    damaged = next(e for e in listed if e["entity"]["id"] == contact.json()["id"])
    with runtime.pool.connection() as conn:
        row = conn.execute(
            "SELECT position FROM event_log WHERE tenant_id = %s"
            " AND event_key = ('x' || substr(%s, 5, 16))::bit(64)::bigint",
            (tenant.id, damaged["id"]),
        ).fetchone()
    assert row is not None
    position = int(row[0])
    state = bytes(stored_row(runtime, position)[4])
    other = provision(admin, "Unharmed")
    set_state(runtime, position, b"garbage")
    try:
        for path in ("/v1/events", f"/v1/events/{damaged['id']}"):
            answer = tenant.get(path)
            problem = assert_problem(answer, 500, damaged["id"])
            assert problem["type"].endswith("/stored-event-unreadable")
            assert f"log position {position}" in problem["detail"]
            assert "syncline audit verify" in problem["detail"]
        history = tenant.get(f"/v1/contacts/{contact.json()['id']}/history")
        problem = assert_problem(history, 500, "does not decode")
        assert problem["type"].endswith("/stored-event-unreadable")
        assert other.get("/v1/events").status_code == 200
    finally:
        set_state(runtime, position, state)
        other.client.close()
    assert tenant.get("/v1/events").status_code == 200
