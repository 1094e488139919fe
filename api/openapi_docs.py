"""What the OpenAPI document says beyond the shapes: response headers and examples.

Litestar declares a layer's `response_headers` on success responses only; `ApiOperation`
completes every operation: each header gets its schema and example, the headers every answer
carries (`X-Request-ID`, and `RateLimit-*` where the success answer has them) are declared
on the error answers too, with `Retry-After` on 429 and 503 and `WWW-Authenticate` on 401,
and each JSON body (request, success and problem) gets a realistic example. An operation
that takes a JSON body also declares the 415 `check_body` answers (api.request_guard), and
a body it may go without (`data: X | None = None`) is not marked required.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.datastructures import ResponseHeader
from litestar.openapi.spec import (
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
)

from api.openapi_examples import OPERATION_EXAMPLES, PROBLEM_EXAMPLES
from api.schemas.examples import EXAMPLES
from api.schemas.problem import DESCRIPTIONS, PROBLEM_JSON, problems

JSON_MEDIA_TYPE = "application/json"

STRING = OpenAPIType.STRING
INTEGER = OpenAPIType.INTEGER

# name: (description, schema type, example)
HEADERS: dict[str, tuple[str, OpenAPIType, Any]] = {
    "X-Request-ID": (
        "This request's id (yours from `X-Request-ID` or `X-Correlation-ID`, or a new one);"
        " every log line and event it causes carries it as `correlation_id`.",
        STRING,
        "4bf92f3577b34da6a3ce929d0e0e4736",
    ),
    "RateLimit-Limit": ("Requests this credential may make in a burst.", INTEGER, 100),
    "RateLimit-Remaining": ("Requests left in the current burst.", INTEGER, 97),
    "RateLimit-Reset": ("Seconds until the bucket is full again.", INTEGER, 1),
    "Retry-After": ("Seconds to wait before retrying.", INTEGER, 1),
    "ETag": (
        'The record\'s version, quoted (`"3"`): send it as `If-Match` to change this version only.',
        STRING,
        '"3"',
    ),
    "Location": ("The path of the resource created.", STRING, None),
    "Idempotent-Replayed": (
        "`true` when this is the stored answer to an earlier request with the same"
        " `Idempotency-Key` (nothing was created this time).",
        STRING,
        "true",
    ),
    "WWW-Authenticate": (
        "The authentication scheme to use, and the error (RFC 6750).",
        STRING,
        'Bearer realm="syncline", error="invalid_token"',
    ),
    "Accept": ("The media type to send the body as.", STRING, JSON_MEDIA_TYPE),
}
EVERY_ANSWER = ("X-Request-ID", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
RETRY_STATUSES = ("429", "503")


def header(name: str, *, location: str | None = None) -> ResponseHeader:
    """A documentation-only response header (the code sets its value), described once here."""
    description, _, example = HEADERS[name]
    return ResponseHeader(
        name=name, description=description, documentation_only=True, example=location or example
    )


def _header_schema(name: str, declared: OpenAPIHeader | Reference) -> OpenAPIHeader | Reference:
    if isinstance(declared, Reference) or name not in HEADERS:
        return declared
    description, openapi_type, example = HEADERS[name]
    declared.schema = Schema(type=openapi_type)
    declared.description = declared.description or description
    if declared.example is None and example is not None:
        declared.example = example
    return declared


def _example_for(media_type: OpenAPIMediaType) -> Any:
    """The example of the component a body refers to, by its name. While operations are
    built, a reference names the component by its module path (`api_schemas_contacts_Contact`);
    the document's names are set afterwards."""
    schema = media_type.schema
    if isinstance(schema, Schema) and schema.one_of:  # an optional body: `X | null`
        schema = next((s for s in schema.one_of if isinstance(s, Reference)), schema)
    if isinstance(schema, Reference):
        return EXAMPLES.get(schema.ref.rsplit("/", 1)[-1].rsplit("_", 1)[-1])
    return None


def _optional(media: OpenAPIMediaType) -> bool:
    """Whether a body's schema admits null (`X | None`): the body may be left out."""
    schema = media.schema
    return isinstance(schema, Schema) and any(
        isinstance(s, Schema) and s.type == OpenAPIType.NULL for s in schema.one_of or []
    )


@dataclass
class ApiOperation(Operation):
    """An operation with its headers completed and an example for each body (see above)."""

    def __post_init__(self) -> None:
        # Examples by where they go in the document: ("requestBody", media type) or
        # ("responses", status, media type). Kept aside, because Litestar's serialisation
        # drops every null inside a value (an example's `"next_cursor": null` too).
        self.body_examples: dict[tuple[str, ...], Any] = {}
        if self.request_body is not None and not isinstance(self.request_body, Reference):
            content = self.request_body.content or {}
            for name, media in content.items():
                self._example(("requestBody", name), media, _example_for(media))
            if any(_optional(media) for media in content.values()):
                self.request_body.required = False  # Litestar marks every body required
            if JSON_MEDIA_TYPE in content:
                self._add_unsupported_media_type()
        responses = self.responses or {}
        successes = [r for s, r in responses.items() if s.startswith("2")]
        success = next((r for r in successes if isinstance(r, OpenAPIResponse)), None)
        inherited = {
            name: value
            for name, value in ((success.headers or {}) if success else {}).items()
            if name in EVERY_ANSWER
        }
        for status, response in responses.items():
            if isinstance(response, OpenAPIResponse):
                self._complete(status, response, inherited)

    def _add_unsupported_media_type(self) -> None:
        """The 415 `check_body` answers a JSON body sent as another media type: a problem
        like the operation's others (the same `Problem` reference, which Litestar renames
        once the document's names are known), with `Accept`."""
        responses = self.responses or {}
        problem = next(
            (
                content[PROBLEM_JSON].schema
                for response in responses.values()
                if isinstance(response, OpenAPIResponse)
                and PROBLEM_JSON in (content := response.content or {})
            ),
            None,
        )
        if problem is None or "415" in responses:
            return
        responses["415"] = OpenAPIResponse(
            description=DESCRIPTIONS[415],
            content={PROBLEM_JSON: OpenAPIMediaType(schema=problem)},
            headers={"Accept": OpenAPIHeader(required=True)},
        )
        self.responses = dict(sorted(responses.items()))

    def _example(self, where: tuple[str, ...], media: OpenAPIMediaType, value: Any) -> None:
        if media.example is None and not media.examples and value is not None:
            self.body_examples[where] = value

    def _complete(self, status: str, response: OpenAPIResponse, inherited: dict[str, Any]) -> None:
        headers = dict(response.headers or {})
        if not status.startswith("2"):
            for name, value in inherited.items():
                if status != "401" or name == "X-Request-ID":  # a 401 is not rate-charged
                    headers.setdefault(name, value)
            if status in RETRY_STATUSES:
                headers.setdefault("Retry-After", OpenAPIHeader(required=True))
            if status == "401":
                headers.setdefault("WWW-Authenticate", OpenAPIHeader(required=True))
        response.headers = {name: _header_schema(name, h) for name, h in headers.items()}
        for name, media in (response.content or {}).items():
            if name == "application/problem+json":
                value = PROBLEM_EXAMPLES.get(int(status))
            elif status.startswith("2"):
                value = OPERATION_EXAMPLES.get(self.operation_id or "", _example_for(media))
            else:
                continue
            self._example(("responses", status, name), media, value)

    def to_schema(self) -> dict[str, Any]:
        schema = super().to_schema()
        for (*path, media_type), example in self.body_examples.items():
            part = schema
            for key in path:
                part = part[key]
            part["content"][media_type]["example"] = example
        return schema


RATE_LIMIT_HEADERS = [header(name) for name in EVERY_ANSWER[1:]]


def documented(*errors: int) -> dict[str, Any]:
    """Route options for an operation outside `/v1`: its problem answers, documented (503
    always: every such operation reads or writes the database)."""
    return {"responses": problems(*errors, 503), "operation_class": ApiOperation}
