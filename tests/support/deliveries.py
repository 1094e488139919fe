"""Rows for the delivery plan tests: `n` deliveries of one webhook, one a second back from
`at`, in a transaction the test rolls back (nobody else sees them)."""

from __future__ import annotations

DELIVERIES = """
INSERT INTO webhook_deliveries (public_id, subscription_id, tenant_id, entity_id, position,
    enqueued_position, origin, event_id, event_type, correlation_id, body, created_at)
SELECT gen_random_uuid(), %(sub)s, %(tenant)s, gen_random_uuid(), i, i, 'log', 'evt_' || i,
    'contact.created', 'plan', '\\x7b7d', %(at)s - i * interval '1 second'
FROM generate_series(1, %(n)s) AS i
"""
