"""The audit routes, as an auditor credential (scope `events:read` only) uses them."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Callable
from uuid import UUID

import httpx
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from api.controllers import audit as audit_routes
from syncline.runtime import Runtime
from tests.conftest import TenantClient
from tests.support.audit import auditor, checkpoint, make_history


def test_checkpoints_verify_with_the_published_key_alone(
    runtime: Runtime, admin: httpx.Client, tenant: TenantClient, caught_up
) -> None:
    make_history(tenant, 3)
    assert len(checkpoint(runtime, tenant, caught_up)) == 1
    with auditor(admin, tenant) as client:
        key = client.get("/v1/audit/public-key").json()
        assert key["algorithm"] == "Ed25519"
        assert key["key_id"] in [k["key_id"] for k in client.get("/v1/audit/keys").json()["data"]]
        page = client.get("/v1/audit/checkpoints").json()
        assert page["has_more"] is False
        assert page["next_cursor"] is None
        [point] = page["data"]
        assert point["tenant_id"] == tenant.id
        assert point["sequence"] == 3
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"]))
        message = (
            f"syncline-checkpoint:v1:{tenant.id}:{point['sequence']}:{point['chain_hash']}"
            f":{point['signed_at']}"
        ).encode()
        public.verify(base64.b64decode(point["signature"]), message)  # raises if it does not
        # The chain hash it signed is the one an auditor computes from /v1/events.
        events = client.get("/v1/events").json()["data"]
        chained = [e for e in events if e["type"] != "audit.checkpoint"]
        previous = bytes(32)
        for envelope in chained:
            del envelope["cursor"]
            previous = hashlib.sha256(previous + rfc8785.dumps(envelope)).digest()
        assert previous.hex() == point["chain_hash"]
        # The checkpoint is an event of the log too.
        [event] = [e for e in events if e["type"] == "audit.checkpoint"]
        assert {k: event["data"][k] for k in point} == point


def test_checkpoints_page_with_a_cursor(
    runtime: Runtime, admin: httpx.Client, tenant: TenantClient, caught_up
) -> None:
    for _ in range(3):
        make_history(tenant, 1)
        checkpoint(runtime, tenant, caught_up)
    with auditor(admin, tenant) as client:
        first = client.get("/v1/audit/checkpoints", params={"limit": 2}).json()
        assert [c["sequence"] for c in first["data"]] == [1, 2]
        assert first["has_more"]
        rest = client.get("/v1/audit/checkpoints", params={"cursor": first["next_cursor"]}).json()
        assert [c["sequence"] for c in rest["data"]] == [3]
        bad = client.get("/v1/audit/checkpoints", params={"cursor": "nonsense"})
        assert bad.status_code == 400


def test_verify_route_reports_an_intact_chain_and_where_to_continue(
    runtime: Runtime, admin: httpx.Client, tenant: TenantClient, caught_up
) -> None:
    make_history(tenant, 4)
    checkpoint(runtime, tenant, caught_up)
    with auditor(admin, tenant) as client:
        answer = client.get("/v1/audit/verify").json()
        assert answer["intact"] is True
        assert answer["verified_through"] == 4
        assert answer["checkpoints_verified"] == 1
        assert answer["next_from_sequence"] is None
        assert answer["mismatch"] is None
        later = client.get("/v1/audit/verify", params={"from_sequence": 3}).json()
        assert later["intact"]
        assert later["verified_through"] == 4
        past = client.get("/v1/audit/verify", params={"from_sequence": 99})
        assert past.status_code == 400
        assert client.get("/v1/audit/verify", params={"from_sequence": 0}).status_code == 400


def test_export_streams_envelopes_with_chain_and_checkpoints(
    runtime: Runtime,
    admin: httpx.Client,
    tenant: TenantClient,
    other_tenant: TenantClient,
    caught_up,
) -> None:
    make_history(tenant, 3)
    checkpoint(runtime, tenant, caught_up)
    with auditor(admin, tenant) as client:
        response = client.get("/v1/events/export")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in response.text.splitlines()]
        events = [line for line in lines if "id" in line]
        assert [e["sequence"] for e in events] == [1, 2, 3]
        assert [line["checkpoint"]["sequence"] for line in lines if "checkpoint" in line] == [3]
        assert events[-1]["chain_hash"] == lines[-1]["checkpoint"]["chain_hash"]
        after = client.get("/v1/events/export", params={"after": events[0]["cursor"]})
        partial = [json.loads(line) for line in after.text.splitlines()]
        assert partial[0] == {
            "export_start": {
                "tenant_id": tenant.id,
                "sequence": 1,
                "chain_hash": events[0]["chain_hash"],
            }
        }
        assert [e["sequence"] for e in partial if "id" in e] == [2, 3]
    make_history(other_tenant, 1)
    caught_up()
    foreign = other_tenant.get("/v1/events").json()["next_cursor"]
    with auditor(admin, tenant) as client:
        refused = client.get("/v1/events/export", params={"after": foreign})
        assert refused.status_code == 400
        assert refused.json()["parameter"] == "after"


def test_the_cli_export_writes_the_same_lines(
    runtime: Runtime, admin: httpx.Client, tenant: TenantClient, caught_up, tmp_path
) -> None:
    from syncline.audit_cli import export

    make_history(tenant, 2)
    checkpoint(runtime, tenant, caught_up)
    target = tmp_path / "export.ndjson"
    assert export(runtime, UUID(tenant.id), output=target, stream=io.StringIO()) == 0
    with auditor(admin, tenant) as client:
        assert target.read_bytes() == client.get("/v1/events/export").content


def test_verify_route_goes_a_bounded_number_of_events_per_call(
    runtime: Runtime,
    admin: httpx.Client,
    tenant: TenantClient,
    caught_up: Callable[[], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(audit_routes, "VERIFY_EVENTS", 2)
    make_history(tenant, 5)
    checkpoint(runtime, tenant, caught_up)
    calls = []
    with auditor(admin, tenant) as client:
        start: int | None = 1
        while start is not None:
            answer = client.get("/v1/audit/verify", params={"from_sequence": start}).json()
            assert answer["intact"], answer
            calls.append((answer["from_sequence"], answer["verified_through"]))
            start = answer["next_from_sequence"]
    assert calls == [(1, 2), (3, 4), (5, 5)]
