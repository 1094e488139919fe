"""The audit chain: computed per tenant in log order, and the same when rebuilt."""

from __future__ import annotations

import hashlib

import msgspec
import rfc8785

from projections.audit.chain import GENESIS
from projections.events.log import EventLog
from syncline.runtime import Runtime
from tests.integration.audit_helpers import chain_rows, history


def test_each_tenant_has_its_own_chain_of_canonical_envelopes(runtime: Runtime) -> None:
    first, _ = history(runtime, 5)
    second, _ = history(runtime, 3)
    assert runtime.wait_for_projections()
    for tenant, count in ((first, 5), (second, 3)):
        rows = chain_rows(runtime, tenant)
        assert [r[0] for r in rows] == list(range(1, count + 1))
        page = EventLog(runtime.pool, runtime.app).page(tenant, limit=100)
        assert [p for p, _ in page.items] == [r[1] for r in rows]
        previous = GENESIS
        for (_, _, event_id, chain_hash), (_, stored) in zip(rows, page.items, strict=True):
            envelope = msgspec.json.decode(stored)
            assert envelope["id"] == event_id
            del envelope["cursor"]
            previous = hashlib.sha256(previous + rfc8785.dumps(envelope)).digest()
            assert chain_hash == previous
