"""Change cursors: they round-trip, stay with their tenant, and reject any tampering."""

from __future__ import annotations

import base64
import hashlib
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from projections.changes.cursor import (
    CURSOR_LENGTH,
    MAX_POSITION,
    decode_change_cursor,
    encode_change_cursor,
    encode_change_cursors,
)
from projections.cursor import CursorCodec, InvalidCursorError

codec = CursorCodec(b"k" * 32)
positions = st.integers(min_value=0, max_value=MAX_POSITION)
tenants = st.uuids()


@given(tenants, positions)
def test_a_cursor_decodes_to_its_position(tenant: UUID, position: int) -> None:
    cursor = encode_change_cursor(codec, tenant, position)
    assert decode_change_cursor(codec, tenant, cursor) == position
    assert cursor.isascii()
    assert all(c.isalnum() or c in "-_" for c in cursor)


@given(tenants, tenants, positions)
def test_a_cursor_is_refused_for_any_other_tenant(tenant: UUID, other: UUID, position: int) -> None:
    cursor = encode_change_cursor(codec, tenant, position)
    if other != tenant:
        with pytest.raises(InvalidCursorError, match="another tenant"):
            decode_change_cursor(codec, other, cursor)


@given(tenants, positions, st.data())
def test_any_changed_byte_is_refused(tenant: UUID, position: int, data: st.DataObject) -> None:
    cursor = encode_change_cursor(codec, tenant, position)
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    i = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    raw[i] ^= data.draw(st.integers(min_value=1, max_value=255))
    forged = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(InvalidCursorError):
        decode_change_cursor(codec, tenant, forged)


@given(tenants, positions, st.integers(min_value=1, max_value=40))
def test_a_truncated_cursor_is_refused(tenant: UUID, position: int, cut: int) -> None:
    cursor = encode_change_cursor(codec, tenant, position)
    with pytest.raises(InvalidCursorError):
        decode_change_cursor(codec, tenant, cursor[: max(0, len(cursor) - cut)])


@given(tenants, st.text(max_size=80))
def test_arbitrary_text_is_refused_not_crashed_on(tenant: UUID, text: str) -> None:
    with pytest.raises(InvalidCursorError):
        decode_change_cursor(codec, tenant, text)


@given(tenants, positions)
def test_another_key_or_kind_does_not_decode(tenant: UUID, position: int) -> None:
    cursor = encode_change_cursor(codec, tenant, position)
    with pytest.raises(InvalidCursorError):
        decode_change_cursor(CursorCodec(b"x" * 32), tenant, cursor)
    list_cursor = codec.encode("contacts", tenant, [position])
    with pytest.raises(InvalidCursorError, match="another listing"):
        decode_change_cursor(codec, tenant, list_cursor)


@pytest.mark.parametrize("position", [[-1], [2**63], ["7"], [1.5], [True], [], [1, 2], [None]])
def test_a_signed_cursor_must_still_hold_one_valid_position(position: list[object]) -> None:
    tenant = UUID(int=7)
    with pytest.raises(InvalidCursorError):
        decode_change_cursor(codec, tenant, codec.encode("changes", tenant, position))


@given(tenants, positions)
def test_a_format_1_cursor_still_decodes(tenant: UUID, position: int) -> None:
    # Integrations keep the cursors they were given before format 2.
    old = codec.encode("changes", tenant, [position])
    assert decode_change_cursor(codec, tenant, old) == position
    assert decode_change_cursor(codec, tenant, encode_change_cursor(codec, tenant, position)) == (
        position
    )


@given(tenants, tenants, positions)
def test_a_cursor_hides_its_position(tenant: UUID, other: UUID, position: int) -> None:
    # The position counts every tenant's events: it must not be readable in the cursor.
    cursor = encode_change_cursor(codec, tenant, position)
    assert len(cursor) == CURSOR_LENGTH
    raw = base64.urlsafe_b64decode(cursor)
    assert position.to_bytes(8, "big") not in raw
    if other != tenant:
        assert encode_change_cursor(codec, other, position) != cursor
    assert encode_change_cursor(codec, tenant, position ^ 1) != cursor


@given(tenants, positions)
def test_a_cursor_spelled_with_the_standard_alphabet_is_refused(
    tenant: UUID, position: int
) -> None:
    cursor = encode_change_cursor(codec, tenant, position)
    standard = cursor.replace("-", "+").replace("_", "/")
    if standard != cursor:
        with pytest.raises(InvalidCursorError):
            decode_change_cursor(codec, tenant, standard)


@given(tenants, st.lists(positions, max_size=50))
def test_a_pages_cursors_are_the_items_change_cursors(tenant: UUID, page: list[int]) -> None:
    cursors = encode_change_cursors(codec, tenant, page)
    assert [c.decode() for c in cursors] == [encode_change_cursor(codec, tenant, p) for p in page]
    assert [decode_change_cursor(codec, tenant, c.decode()) for c in cursors] == page


def test_format_2_known_answers() -> None:
    """Pinned: a cursor an integration stored must decode the same forever. The first is
    also rebuilt from its definition: AES-128 of the position and the fixed bytes, under
    keyed BLAKE2b of the purpose and tenant, after the header, in URL-safe base64."""
    tenant = UUID(int=1)
    key = hashlib.blake2b(b"change-cursor/2\x00" + tenant.bytes, key=b"k" * 32, digest_size=16)
    block = (123456789).to_bytes(8, "big") + b"changes\x02"
    sealed = Cipher(algorithms.AES(key.digest()), modes.ECB()).encryptor().update(block)  # noqa: S305
    assert base64.urlsafe_b64encode(b"\x02\x01" + sealed).decode() == "AgGlIQg060JqjAn41ab5tOPW"
    pinned = {
        (tenant, 123456789): "AgGlIQg060JqjAn41ab5tOPW",
        (tenant, 0): "AgFL1-L1OiWiLM9kqq6jYlkC",
        (UUID(int=2), 0): "AgFZS3NX3XCxJYzKnDGT6o83",
    }
    for (owner, position), cursor in pinned.items():
        assert encode_change_cursor(codec, owner, position) == cursor
        assert decode_change_cursor(codec, owner, cursor) == position
