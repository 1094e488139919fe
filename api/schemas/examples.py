"""What the OpenAPI document's examples share, and `EXAMPLES`, where each schema module adds
an example of each body it declares, by struct name (what `$ref` names).

One tenant's story: Ada Lovelace is a contact; she orders two items in EUR; the order is
placed and paid; a webhook receives it. Ids, cursors and credentials have the shapes the
API really answers. tests/e2e/test_openapi.py checks that each example is valid against
its schema, and that every body has one.
"""

from __future__ import annotations

from typing import Any

TENANT = "3f0b7c1e-2a4d-4c8e-9b6f-1d2e3f4a5b6c"
PAGE_CURSOR = "lAGoY29udGFjdHPEED8LfB4qTUyOm28dLj9KW2yS2SAyMDI2LTExLTI5VDE2OjExOjE0LjEyMzQ1Ng"
CREATED = "2026-11-29T16:11:14.123456Z"
PAID = "2026-11-29T16:20:03.481220Z"

# By component schema name, for request bodies and success answers.
EXAMPLES: dict[str, Any] = {}


def page(*items: Any, more: bool = True, cursor: str = PAGE_CURSOR) -> dict[str, Any]:
    """A list page's example."""
    return {"data": list(items), "next_cursor": cursor if more else None, "has_more": more}


def examples(**by_struct_name: Any) -> None:
    """Add examples of bodies, by struct name: `examples(Invoice=…, InvoiceList=page(…))`."""
    EXAMPLES.update(by_struct_name)
