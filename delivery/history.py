"""A delivery's derived state, as SQL the readers of delivery history join with
(`delivery.listing` pages an endpoint's deliveries, `delivery.attempts` reads one).

A delivery is pending while it has a pending row, else delivered if an attempt delivered
it, else cancelled if cancelled, else failed (given up after its last retry, or 410).
"""

from __future__ import annotations

# The state of delivery `d` (joined with its pending row `p` and cancellation `c`).
DELIVERY_STATE = """CASE
    WHEN p.delivery_id IS NOT NULL THEN 'pending'
    WHEN EXISTS (
        SELECT 1 FROM webhook_attempts a WHERE a.delivery_id = d.id AND a.outcome = 'delivered'
    ) THEN 'delivered'
    WHEN c.delivery_id IS NOT NULL THEN 'cancelled'
    ELSE 'failed' END"""
WITH_STATE = f"""webhook_deliveries d
LEFT JOIN webhook_pending p ON p.subscription_id = d.subscription_id
    AND p.entity_id = d.entity_id AND p.delivery_id = d.id
LEFT JOIN webhook_cancellations c ON c.delivery_id = d.id
CROSS JOIN LATERAL (SELECT {DELIVERY_STATE} AS state) s"""
