"""Property-based fuzzing of every operation in the app's own OpenAPI schema.

Any 5xx, or a response that contradicts the schema, fails the test. Each operation gets a
bounded number of generated requests, authenticated as a tenant (or as the operator).
"""

from __future__ import annotations

from collections.abc import Callable

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (  # type: ignore[attr-defined]
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from tests.conftest import ADMIN_TOKEN, ServerThread, TenantClient

EXAMPLES_PER_OPERATION = 20
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def fuzzer(operation: schemathesis.APIOperation, token: str) -> Callable[[], None]:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def fuzz(case: schemathesis.Case) -> None:
        if case.query and "wait" in case.query:
            case.query["wait"] = 0  # a long-poll of an empty feed would hold each case 30 s
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

    return fuzz


def test_no_operation_answers_5xx_or_breaks_its_schema(
    api_server: ServerThread, tenant: TenantClient
) -> None:
    schema = schemathesis.openapi.from_url(f"{api_server.url}/schema/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    failures = []
    for operation in operations:
        token = ADMIN_TOKEN if operation.path.startswith("/admin") else tenant.api_key
        try:
            fuzzer(operation, token)()
        except Exception as exc:  # gather every failing operation, then fail once
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
