"""`Problem`: the RFC 9457 body of every error response."""

from __future__ import annotations

from typing import Annotated

from litestar.openapi import ResponseSpec
from msgspec import Meta

from api.schemas.common import Output

PROBLEM_JSON = "application/problem+json"


class FieldError(Output):
    """One invalid value: where it is and what is wrong with it."""

    field: Annotated[
        str | None,
        Meta(description="The body field or the parameter, by name."),
    ]
    source: Annotated[
        str | None, Meta(description="Where it was sent: `body`, `query`, `path` or `header`.")
    ]
    message: Annotated[str | None, Meta(description="What is wrong with it.")]


class Problem(Output):
    """RFC 9457 problem details. The extension members (`parameter`, `required_scope`,
    `errors`, `max_depth`) appear on the problems they help with."""

    type: Annotated[
        str,
        Meta(
            description="A URI naming the kind of problem (`https://syncline.dev/problems/…`),"
            " or `about:blank` when the status says it all."
        ),
    ]
    title: Annotated[str, Meta(description="The status, in words.")]
    status: Annotated[int, Meta(description="The HTTP status code.")]
    detail: Annotated[str, Meta(description="What is wrong, for a human.")]
    instance: Annotated[str | None, Meta(description="The path that was requested.")] = None
    correlation_id: Annotated[
        str | None,
        Meta(description="The request's id (`X-Request-ID`): quote it when asking for help."),
    ] = None
    parameter: Annotated[
        str | None,
        Meta(
            description="On `invalid-parameter` and `invalid-cursor`: the query parameter or"
            " header at fault (`cursor`, `If-Match`, `Idempotency-Key`…)."
        ),
    ] = None
    required_scope: Annotated[
        str | None,
        Meta(description="On `insufficient-scope` (403): the scope the operation needs."),
    ] = None
    errors: Annotated[
        list[FieldError] | None,
        Meta(description="On `validation-error` and `invalid-parameter`: every invalid value."),
    ] = None
    max_depth: Annotated[
        int | None,
        Meta(description="On `nesting-too-deep`: how deep a JSON body may nest."),
    ] = None


DESCRIPTIONS = {
    400: "Malformed request or invalid parameter.",
    401: "Missing or invalid credentials.",
    403: "The credential lacks the required scope.",
    404: "No such resource for this tenant.",
    409: "The resource's current state does not allow this.",
    410: "The cursor is older than retention; resync from the beginning.",
    412: "If-Match named a version that is no longer current.",
    413: "The request body is larger than 1 MiB.",
    415: "The body was not sent as `application/json` (`Accept` names the media type).",
    422: "The body is well-formed but its values are invalid.",
    429: "Rate limit exceeded; retry after the Retry-After header's seconds.",
    503: "Temporarily unable to answer (the database is unavailable, say); retry after the"
    " Retry-After header's seconds.",
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
        for status in sorted(set(statuses))
    }
