"""`Problem`: the RFC 9457 body of every error response."""

from __future__ import annotations

from typing import Annotated

from litestar.openapi import ResponseSpec
from msgspec import Meta

from api.schemas.common import Output

PROBLEM_JSON = "application/problem+json"


class FieldError(Output):
    field: str | None
    source: str | None
    message: str | None


class Problem(Output):
    """RFC 9457 problem details. Extra members (`parameter`, `required_scope`, `errors`)
    appear where they help."""

    type: Annotated[str, Meta(description="A URI naming the kind of problem.")]
    title: str
    status: int
    detail: Annotated[str, Meta(description="What is wrong, for a human.")]
    instance: str | None = None
    correlation_id: str | None = None
    errors: list[FieldError] | None = None


DESCRIPTIONS = {
    400: "Malformed request or invalid parameter.",
    401: "Missing or invalid credentials.",
    403: "The credential lacks the required scope.",
    404: "No such resource for this tenant.",
    409: "The resource's current state does not allow this.",
    410: "The cursor is older than retention; resync from the beginning.",
    412: "If-Match named a version that is no longer current.",
    413: "The request body is larger than 1 MiB.",
    422: "The body is well-formed but its values are invalid.",
    429: "Rate limit exceeded; retry after the Retry-After header's seconds.",
    503: "Temporarily unable to answer; retry after the Retry-After header's seconds.",
}


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI response entries for these error statuses, all `application/problem+json`."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            media_type=PROBLEM_JSON,
            description=DESCRIPTIONS[status],
            generate_examples=False,
        )
        for status in statuses
    }
