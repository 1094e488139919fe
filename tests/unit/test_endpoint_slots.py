"""EndpointSlots: an endpoint never has more than its limit in flight; deliveries claimed
beyond it wait in the endpoint's line and go as places free up, in claim order."""

from __future__ import annotations

from uuid import uuid4

from delivery.slots import EndpointSlots, default_endpoint_concurrency


def test_an_endpoint_at_its_limit_lines_up_the_rest_in_order() -> None:
    slots: EndpointSlots[str] = EndpointSlots(limit=2)
    a, b = uuid4(), uuid4()
    assert slots.allowance == 4
    for _ in range(4):
        slots.claimed_one(a)
    slots.claimed_one(b)
    assert [slots.start(a, i) for i in ("a1", "a2", "a3", "a4")] == [True, True, False, False]
    assert slots.start(b, "b1")  # another endpoint is not held up
    assert slots.sending[a] == 2
    assert slots.next_in_line(a) is None  # no room until a request ends
    slots.finish(a)
    assert slots.claimed[a] == 3
    assert slots.next_in_line(a) == "a3"
    assert slots.start(a, "a3")
    assert slots.next_in_line(a) is None
    slots.finish(a)
    assert slots.next_in_line(a) == "a4"
    assert slots.start(a, "a4")
    for _ in range(2):
        slots.finish(a)
    slots.finish(b)
    assert slots.sending == {}
    assert slots.claimed == {}


def test_stopping_gives_back_what_waits_in_line() -> None:
    slots: EndpointSlots[str] = EndpointSlots(limit=1)
    a = uuid4()
    assert slots.start(a, "a1")
    assert not slots.start(a, "a2")
    assert list(slots.drain()) == ["a2"]
    assert slots.next_in_line(a) is None


def test_the_default_limit_is_a_quarter_of_the_senders() -> None:
    assert default_endpoint_concurrency(32) == 8
    assert default_endpoint_concurrency(2) == 1
