"""Checks of RFC 9457 problem answers, and the log's head to show nothing was written."""

from __future__ import annotations

from typing import Any

from syncline.runtime import Runtime


def log_head(runtime: Runtime) -> int:
    return runtime.app.recorder.max_notification_id() or 0  # type: ignore[attr-defined]


def assert_problem(response: Any, status: int, mentions: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert problem["title"]
    assert problem["detail"]
    if mentions:
        assert mentions in problem["detail"] or mentions in str(problem.get("errors", ""))
    return problem
