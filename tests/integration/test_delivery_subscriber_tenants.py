"""The delivery subscriber matches a batch spanning many tenants with one subscription
query, and each tenant's events still go only to that tenant's matching webhooks."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest

from delivery.subscriber import ACTIVE_SUBSCRIPTIONS, DeliveryProjection
from domain.envelope import event_id
from projections.runner import ProjectionRunner
from syncline.runtime import Runtime
from tests.conftest import TenantClient, provision
from tests.support.webhooks import contact, deliveries, subscribe


class CountingCursor(psycopg.Cursor[Any]):
    """A real cursor that counts the subscription lookups it runs."""

    lookups = 0

    def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        if query == ACTIVE_SUBSCRIPTIONS:
            type(self).lookups += 1
        return super().execute(query, *args, **kwargs)


def test_one_lookup_per_batch_and_each_tenant_gets_its_own(
    hooks_tenant: TenantClient,
    other_tenant: TenantClient,
    admin: httpx.Client,
    runtime: Runtime,
    caught_up: Any,
) -> None:
    third = provision(admin, "Initech")
    url = "http://127.0.0.1:9/"
    contacts_hook = subscribe(hooks_tenant, url + "contacts", ["contact.*"])
    orders_hook = subscribe(other_tenant, url + "orders", ["order.*"])
    caught_up()
    start = runtime.app.recorder.max_notification_id() or 0  # type: ignore[attr-defined]
    contact(hooks_tenant, "a@example.com")
    contact(other_tenant, "b@example.com")
    contact(third, "c@example.com")
    caught_up()
    try:
        # The live subscriber: only the first tenant's contact matched a webhook.
        assert [d["event_type"] for d in deliveries(hooks_tenant, contacts_hook["id"])] == [
            "contact.created"
        ]
        assert deliveries(other_tenant, orders_hook["id"]) == []

        # The same events again, as one batch: one lookup for its three tenants (a
        # subscription change inside a batch costs its tenant one more).
        batch = ProjectionRunner(runtime.app, runtime.pool, DeliveryProjection(None)).read_batch(
            start
        )
        tenants = {event.meta["tenant_id"] for _, event in batch}
        assert {hooks_tenant.id, other_tenant.id, third.id} <= tenants
        with runtime.pool.connection() as conn:
            CountingCursor.lookups = 0
            try:
                DeliveryProjection(runtime.cursors).process(CountingCursor(conn), batch)
                assert CountingCursor.lookups == 1
            finally:
                conn.rollback()
    finally:
        other_tenant.delete(f"/v1/webhooks/{orders_hook['id']}")
        third.client.close()


@pytest.mark.parametrize("others_subscribed", [True, False], ids=["other-hook", "none-at-start"])
def test_a_subscription_made_inside_a_batch_gets_only_what_follows_it(
    hooks_tenant: TenantClient,
    other_tenant: TenantClient,
    runtime: Runtime,
    caught_up: Any,
    others_subscribed: bool,
) -> None:
    """With the subscriber stopped, one tenant's events around its subscribing, and another
    tenant's, all land in one batch: the lookup made for the batch's start is redone for
    that tenant after its subscription, and only the event after it is delivered. Without
    the other tenant's webhook the batch starts with no webhook at all (the subscriber
    skips such events until a subscription changes)."""
    url = "http://127.0.0.1:9/"
    others_hook = subscribe(other_tenant, url + "others", ["contact.*"])
    if not others_subscribed:
        other_tenant.delete(f"/v1/webhooks/{others_hook['id']}")
    caught_up()
    runtime.stop_projection("deliveries")
    try:
        before = contact(hooks_tenant, "before@example.com")
        hook = subscribe(hooks_tenant, url + "mine", ["contact.*"])
        after = contact(hooks_tenant, "after@example.com")
        others = contact(other_tenant, "other@example.com")
    finally:
        runtime.start_projection(runtime.projection("deliveries"))
    caught_up()
    try:
        ids = [d["event_id"] for d in deliveries(hooks_tenant, hook["id"])]
        assert ids == [event_id(UUID(after["id"]), 1)]
        assert event_id(UUID(before["id"]), 1) not in ids
        if others_subscribed:
            assert [d["event_id"] for d in deliveries(other_tenant, others_hook["id"])] == [
                event_id(UUID(others["id"]), 1)
            ]
    finally:
        if others_subscribed:
            other_tenant.delete(f"/v1/webhooks/{others_hook['id']}")
