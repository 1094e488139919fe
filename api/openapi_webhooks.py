"""The OpenAPI 3.1 `webhooks` section: what a subscribed endpoint receives, per event type.

Each event type is one webhook: a POST of the event's envelope (`EventEnvelope`, its `data`
the record after the change) with the signature headers, answered by a 2xx. Generated from
the event-type catalog, so a new event type documents itself.
"""

from __future__ import annotations

from litestar.enums import ParamType
from litestar.openapi.spec import (
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    PathItem,
    Reference,
    RequestBody,
    Schema,
)

from api.schemas.common import DATA_SCHEMAS
from domain.events import EVENT_TYPES

# What `data` holds for the event types that are not a record's (records say it in their
# data schema); the components come from the routes that answer them.
OTHER_DATA_COMPONENTS = {"webhook": "Webhook"}


def _data_component(resource: str) -> str | None:
    """The component schema of an event's `data`, by its resource (None: not known)."""
    schema = DATA_SCHEMAS.get(resource)
    ref = schema.get("$ref") if schema else None
    if isinstance(ref, str):
        return ref.rsplit("/", 1)[-1]
    return OTHER_DATA_COMPONENTS.get(resource)


DELIVERY_HEADERS = [
    ("webhook-id", "The event's id (`evt_…`): the same on every retry; deduplicate on it."),
    ("webhook-timestamp", "Unix seconds when this attempt was signed; refuse old ones."),
    (
        "webhook-signature",
        '`v1,<base64 HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")>`, the key'
        " being the base64-decoded part of the `whsec_` secret (Standard Webhooks); during a"
        " rotation, several space-separated signatures.",
    ),
    ("X-Signature-256", "`sha256=<hex HMAC-SHA256(key, body)>`, for receivers that want one."),
    ("X-Event-Type", "The event type, e.g. `order.paid`."),
    ("X-Correlation-ID", "The correlation id of the request that caused the event."),
    ("User-Agent", "`Syncline-Webhooks/<version>`."),
]


def _delivery(name: str, description: str) -> PathItem:
    resource = name.split(".")[0]
    properties: dict[str, Schema | Reference] = {
        "type": Schema(type=OpenAPIType.STRING, const=name)
    }
    if (component := _data_component(resource)) is not None:
        properties["data"] = Reference(ref=f"#/components/schemas/{component}")
    body = Schema(
        all_of=[
            Reference(ref="#/components/schemas/EventEnvelope"),
            Schema(type=OpenAPIType.OBJECT, properties=properties),
        ]
    )
    return PathItem(
        post=Operation(
            operation_id=f"Webhook_{name.replace('.', '_')}",
            summary=f"{name}: {description}",
            description=(
                f"Sent to every active webhook subscribed to `{name}` (or `{resource}.*`) for"
                " each such event, at least once, in order per record. Verify the signature"
                " before trusting the body. Answer 2xx within the timeout (10 s by default) to"
                " acknowledge; anything else is retried on the schedule immediately, 5 s,"
                " 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (with `Retry-After` honoured), and a"
                " 410 disables the webhook."
            ),
            tags=["Webhooks"],
            parameters=[
                Parameter(
                    name=header,
                    param_in=ParamType.HEADER,
                    required=True,
                    description=text,
                    schema=Schema(type=OpenAPIType.STRING),
                )
                for header, text in DELIVERY_HEADERS
            ],
            request_body=RequestBody(
                required=True,
                content={"application/json": OpenAPIMediaType(schema=body)},
            ),
            responses={
                "2XX": OpenAPIResponse(description="Acknowledged: the delivery is done."),
                "410": OpenAPIResponse(
                    description="Gone: Syncline disables this webhook and stops sending.",
                    headers={},
                ),
                "default": OpenAPIResponse(
                    description="Any other answer, a timeout or a refused connection: retried.",
                    headers={"Retry-After": OpenAPIHeader(schema=Schema(type=OpenAPIType.STRING))},
                ),
            },
        )
    )


def webhook_deliveries() -> dict[str, PathItem | Reference]:
    """One webhook per event type, named by it."""
    return {name: _delivery(name, description) for name, description in EVENT_TYPES.items()}
