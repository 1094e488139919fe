"""What an attempt keeps of an endpoint's answer: capped headers and body, as storable text."""

from __future__ import annotations

from delivery.response import MAX_BODY_BYTES, MAX_HEADER_VALUE, MAX_HEADERS, capture


def test_the_body_is_cut_at_4_kib_and_says_so() -> None:
    exact = capture([], b"a" * MAX_BODY_BYTES)
    assert (len(exact.body), exact.truncated) == (MAX_BODY_BYTES, False)
    longer = capture([], b"a" * (MAX_BODY_BYTES + 1))
    assert (len(longer.body), longer.truncated) == (MAX_BODY_BYTES, True)
    assert capture([], b"", more=True).truncated is True


def test_bytes_become_text_postgresql_can_store() -> None:
    answer = capture([], b"<b>\x00\xff\xfe caf\xc3\xa9")
    assert answer.body == "<b>\ufffd\ufffd\ufffd café"
    # A multi-byte character cut by the cap is replaced, not an error.
    cut = capture([], b"a" * (MAX_BODY_BYTES - 1) + "é".encode())
    assert cut.body.endswith("a\ufffd")
    assert cut.truncated is True


def test_headers_keep_order_and_repeats_up_to_their_caps() -> None:
    many = [(f"X-{i}", "v" * (MAX_HEADER_VALUE + 10)) for i in range(MAX_HEADERS + 5)]
    answer = capture([("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), *many], b"")
    assert answer.headers[:2] == [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
    assert len(answer.headers) == MAX_HEADERS
    assert all(len(value) <= MAX_HEADER_VALUE for _, value in answer.headers)
