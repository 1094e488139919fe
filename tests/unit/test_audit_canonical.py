"""The audit chain's canonical JSON is exactly RFC 8785's (the `rfc8785` package's bytes)."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from projections.audit.chain import MAX_SAFE_INTEGER, canonical_json

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children),
    max_leaves=30,
)


def reference(value: Any) -> bytes | type[Exception]:
    try:
        return bytes(rfc8785.dumps(value))
    except Exception as error:
        return type(error)


@given(json_values)
def test_canonical_json_is_rfc8785(value: Any) -> None:
    expected = reference(value)
    if isinstance(expected, bytes):
        assert canonical_json(value) == expected
    else:
        with pytest.raises(expected):
            canonical_json(value)


@pytest.mark.parametrize(
    "value",
    [
        {"\U0001f600": 1, "\ufb01": 2, "a": 3},  # UTF-16 order differs from code points
        {"n": 1.5, "m": 1e21, "k": 0.000001},
        {"big": MAX_SAFE_INTEGER, "small": -MAX_SAFE_INTEGER},
        {"s": '\u0000\u001f\u007f\u2028\ud7ff\ue000"\\/ é'},
        [[], {}, "", 0, False, None],
    ],
)
def test_edge_cases_match(value: Any) -> None:
    assert canonical_json(value) == bytes(rfc8785.dumps(value))
