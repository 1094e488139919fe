"""What auditors are shown agrees with the verified chain.

`ChainVerifier` recomputes the chains from the event store's own rows, but an auditor reads
two read models besides: `/v1/events` (and record histories) list the `event_log` table,
and `/v1/audit/checkpoints` and exports list `audit_checkpoints`. Whoever holds the database
could hide an event from the first or alter a checkpoint in the second while the chain
still verifies. So, over the range a check verified, the event log must list exactly the
chained events (by log position and event id), and every checkpoint listed must be, field
for field, the signed `audit.checkpoint` event it was recorded from.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Any

import psycopg

from domain.events import CHECKPOINT_TYPE
from projections.audit.report import Mismatch, TenantCheck

# A checkpoint as `audit_checkpoints` holds it: position, chain hash, signed_at, key id,
# signature.
Listed = tuple[int, bytes, str, str, bytes]

_LISTED = """
SELECT c.tenant_id, c.sequence, c.position, c.chain_hash, c.signed_at, c.key_id, c.signature
FROM audit_checkpoints c
JOIN unnest(%s::uuid[], %s::int8[]) AS k(tenant_id, sequence) USING (tenant_id, sequence)
"""

# The position of a check's last verified sequence, and how far the event log is written.
_RANGE = """
SELECT (SELECT position FROM audit_chain WHERE tenant_id = %(t)s AND sequence = %(last)s),
    coalesce((SELECT position FROM projection_tracking WHERE name = 'events'), 0)
"""

# The first log position where the event log and the chain disagree: a chained event the
# event log does not list, a row it lists that is not chained, or another event's id there.
# Both sides are ranges of a (tenant, position) index, merged.
_EVENT_LOG_DIFFERENCE = f"""
SELECT coalesce(c.position, e.position) AS position, c.sequence, c.event_id,
    e.position IS NULL AS unlisted, c.position IS NULL AS unchained,
    (SELECT max(sequence) FROM audit_chain b WHERE b.tenant_id = %(t)s
        AND b.position < coalesce(c.position, e.position)) AS before
FROM (SELECT sequence, position, event_id FROM audit_chain
      WHERE tenant_id = %(t)s AND position > %(after)s AND position <= %(upto)s) c
FULL JOIN (SELECT position, event_key FROM event_log
      WHERE tenant_id = %(t)s AND position > %(after)s AND position <= %(upto)s
        AND type <> '{CHECKPOINT_TYPE}') e ON e.position = c.position
WHERE c.position IS NULL OR e.position IS NULL
    OR e.event_key <> ('x' || substr(c.event_id, 5, 16))::bit(64)::bigint
ORDER BY 1
LIMIT 1
"""

# A checkpoint listed in the verified range that no `audit.checkpoint` event recorded.
_UNSIGNED_LISTED = """
SELECT sequence FROM audit_checkpoints
WHERE tenant_id = %s AND position > %s AND position <= %s AND sequence <> ALL(%s::int8[])
ORDER BY sequence LIMIT 1
"""


def listed_form(position: int, state: Mapping[str, Any]) -> Listed | None:
    """How `audit_checkpoints` must hold the checkpoint event at `position` with `state`
    (None: the event is malformed, which its signature check reports)."""
    try:
        return (
            position,
            bytes.fromhex(state["chain_hash"]),
            str(state["signed_at"]),
            str(state["key_id"]),
            base64.b64decode(state["signature"], validate=True),
        )
    except (KeyError, TypeError, ValueError, binascii.Error):
        return None


def listed_checkpoints(
    conn: psycopg.Connection[Any], keys: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], Listed]:
    """The rows `audit_checkpoints` holds at these (tenant, sequence) keys."""
    keys = list(keys)
    if not keys:
        return {}
    tenants, sequences = zip(*keys, strict=True)
    return {
        (str(tenant), int(sequence)): (
            int(position),
            bytes(chain_hash),
            str(signed_at),
            str(key_id),
            bytes(signature),
        )
        for tenant, sequence, position, chain_hash, signed_at, key_id, signature in conn.execute(
            _LISTED, (list(tenants), list(sequences))
        )
    }


def listing_problem(listed: Listed | None, signed: Listed | None) -> str | None:
    """Why the checkpoint listed differs from the signed event (None: it does not)."""
    if signed is None:
        return None
    if listed is None:
        return (
            "this signed checkpoint is missing from /v1/audit/checkpoints and exports"
            " (its audit_checkpoints row was deleted)"
        )
    if listed != signed:
        return (
            "the checkpoint /v1/audit/checkpoints and exports list at this sequence is not"
            " the signed one (its audit_checkpoints row was altered)"
        )
    return None


def check_shown(
    conn: psycopg.Connection[Any],
    check: TenantCheck,
    after: int,
    head: int | None = None,
) -> None:
    """Compare the read models with the chain over the range `check` verified (the log
    positions after `after`), or up to log position `head` when it reached the chain's head
    (what the audit projection has chained): the first difference becomes its mismatch."""
    if check.mismatch is not None:
        return
    row = conn.execute(_RANGE, {"t": check.tenant_id, "last": check.verified}).fetchone()
    if row is None:
        return
    events_position = int(row[1])
    last = head if head is not None else row[0]
    if last is None:
        return  # nothing verified
    last = int(last)
    upto = min(last, events_position)
    found = conn.execute(
        _EVENT_LOG_DIFFERENCE, {"t": check.tenant_id, "after": after, "upto": upto}
    ).fetchone()
    if found is not None:
        check.mismatch = _event_log_mismatch(*found)
        check.verified = min(check.verified, check.mismatch.sequence - 1)
        return
    extra = conn.execute(_UNSIGNED_LISTED, (check.tenant_id, after, last, check.listed)).fetchone()
    if extra is not None:
        check.mismatch = Mismatch(
            int(extra[0]),
            "a listed checkpoint",
            "/v1/audit/checkpoints and exports list a checkpoint at this sequence that no"
            " signed audit.checkpoint event recorded (its audit_checkpoints row was inserted)",
        )


def _event_log_mismatch(
    position: int,
    sequence: int | None,
    event_id: str | None,
    unlisted: bool,
    unchained: bool,
    before: int | None,
) -> Mismatch:
    if unchained or sequence is None or event_id is None:
        return Mismatch(
            (before or 0) + 1,
            f"log position {position}",
            "/v1/events lists an event here that is not in the chain (an event log row was"
            " inserted)",
        )
    if unlisted:
        return Mismatch(
            sequence,
            event_id,
            "the chain has this event but /v1/events does not list it (its event log row"
            " was deleted)",
        )
    return Mismatch(
        sequence,
        event_id,
        "/v1/events lists another event at this event's log position (its event log row"
        " was altered)",
    )
