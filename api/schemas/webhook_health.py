"""The schema of a webhook endpoint's delivery health: its circuit breaker and its recent
outcomes (docs/internals/webhook-delivery.md, "Circuit breaker")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from msgspec import Meta

from api.schemas.common import Output

Circuit = Annotated[
    Literal["closed", "open", "half_open"],
    Meta(
        description="`closed`: delivered normally. `open`: the endpoint kept failing, so its"
        " deliveries are held (not sent, and no attempt counted) until `held_until`."
        " `half_open`: the hold ran out and one delivery is being tried as a probe; its"
        " success closes the circuit, its failure opens it again for twice as long."
    ),
]


class WebhookHealth(Output):
    webhook_id: UUID
    circuit: Circuit
    held_until: Annotated[
        datetime | None,
        Meta(description="While open: when its deliveries are tried again (one probe first)."),
    ]
    opened_at: Annotated[datetime | None, Meta(description="When the circuit last opened.")]
    opened_times: Annotated[
        int,
        Meta(
            ge=0,
            description="How often it opened in a row without a success between (each hold"
            " doubles).",
        ),
    ]
    consecutive_failures: Annotated[
        int,
        Meta(ge=0, description="Failed attempts since the last success or the last opening."),
    ]
    pending: Annotated[int, Meta(ge=0, description="Deliveries waiting to be sent or retried.")]
    failing_since: Annotated[
        datetime | None,
        Meta(description="Since when every attempt has failed (null after a success)."),
    ]
    last_success_at: datetime | None
    last_failure_at: datetime | None
