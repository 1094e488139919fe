"""A path no route matches (404) and a method its route lacks (405) are refused by the router,
before any middleware runs; they are problems of the same shape as every other all the
same, with the request's id as `correlation_id` and as `X-Request-ID`."""

from __future__ import annotations

import httpx
import pytest

from tests.support.problems import assert_problem

REFUSED = [
    ("GET", "/v1/nope", 404),
    ("GET", "/nope", 404),
    ("GET", "/oauth/token", 405),
    ("DELETE", "/v1/contacts", 405),
    ("PUT", "/admin/tenants", 405),
]


@pytest.mark.parametrize(("method", "path", "status"), REFUSED)
def test_router_refusals_are_problems_with_the_request_id(
    http: httpx.Client, method: str, path: str, status: int
) -> None:
    members = set(
        http.get("/schema/openapi.json").json()["components"]["schemas"]["Problem"]["properties"]
    )

    given = http.request(method, path, headers={"X-Request-ID": "route-refused-1"})
    problem = assert_problem(given, status)
    assert given.headers["x-request-id"] == "route-refused-1"
    assert problem["correlation_id"] == "route-refused-1"
    assert problem["instance"] == path
    assert set(problem) <= members
    assert {"type", "title", "status", "detail", "instance", "correlation_id"} <= set(problem)
    if status == 405:
        assert method not in given.headers["allow"]

    fresh = http.request(method, path)  # no id given: a new one, the same in both places
    assert_problem(fresh, status)
    assert fresh.json()["correlation_id"] == fresh.headers["x-request-id"]
    assert len(fresh.headers["x-request-id"]) == 32


def test_a_credential_shaped_request_id_is_not_echoed_by_a_router_refusal(
    http: httpx.Client,
) -> None:
    response = http.get("/v1/nope", headers={"X-Request-ID": "sk_leaked_secret"})
    problem = assert_problem(response, 404)
    assert "sk_" not in response.headers["x-request-id"]
    assert problem["correlation_id"] == response.headers["x-request-id"]
