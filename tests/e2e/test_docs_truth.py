"""The README and docs/ name only links and endpoints that exist."""

from __future__ import annotations

import re

import httpx

from tests.conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
# `GET /v1/x/{id}`, `POST /admin/...`, and curl's `$API/v1/...`.
METHOD_PATH = re.compile(r"\b(GET|POST|PATCH|PUT|DELETE) (/(?:v1|admin|oauth)[\w/{}\-.$|]*)")
CURL_PATH = re.compile(r"\$API(/(?:v1|admin|oauth)[\w/{}\-.$]*)")
BARE_PATH = re.compile(r"`(/(?:v1|admin|oauth)/[\w/{}\-.]*)[`?]")


def _segments(path: str) -> list[str]:
    parts = path.split("?")[0].rstrip("/.").split("/")[1:]
    return ["*" if p.startswith(("{", "$")) or not p else p for p in parts]


def test_every_relative_link_resolves() -> None:
    broken = []
    for doc in DOCS:
        for target in LINK.findall(doc.read_text()):
            if target.startswith(("http://", "https://", "mailto:", "#")):
                continue
            if not (doc.parent / target.split("#")[0]).exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert broken == []


def test_no_doc_points_outside_the_repository() -> None:
    for doc in DOCS:
        assert "../shared" not in doc.read_text(), doc


def test_every_endpoint_named_exists(http: httpx.Client) -> None:
    schema = http.get("/schema/openapi.json").json()
    known = {
        (method.upper(), tuple(_segments(path)))
        for path in schema["paths"]
        for method in schema["paths"][path]
    }
    known_paths = {segments for _, segments in known}

    def exists(path: str, method: str | None) -> bool:
        if path.endswith("/"):  # a family of routes ("`GET /v1/audit/…`"): one must exist
            return any(p.startswith(path) for p in schema["paths"])
        want = _segments(path)
        for m, segments in known:
            if (
                len(segments) == len(want)
                and (method is None or m == method)
                and all(
                    w == "*" or s == "*" or w == s or ("|" in w and s in w.split("|"))
                    for w, s in zip(want, segments, strict=True)
                )
            ):
                return True
        return False

    missing = []
    for doc in DOCS:
        text = doc.read_text()
        for method, path in METHOD_PATH.findall(text):
            if not exists(path, method):
                missing.append(f"{doc.relative_to(ROOT)}: {method} {path}")
        for path in CURL_PATH.findall(text) + BARE_PATH.findall(text):
            if path.endswith("/..."):  # a family of routes ("`/admin/...`"), not one
                continue
            if not exists(path, None):
                missing.append(f"{doc.relative_to(ROOT)}: {path}")
    assert known_paths
    assert missing == []
