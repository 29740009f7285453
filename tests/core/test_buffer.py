"""The send buffer: ordered, optionally bounded, byte-counted in UTF-8."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from partysocket.core.buffer import Message, SendBuffer, message_size


@pytest.mark.parametrize(
    ("message", "size"),
    [("", 0), ("abc", 3), ("é", 2), ("€", 3), ("😀", 4), ("aé€😀", 10), (b"", 0), (b"\x00\xff", 2)],
)
def test_message_size_is_utf8_bytes(message: Message, size: int) -> None:
    assert message_size(message) == size


def test_new_buffer_is_empty() -> None:
    buffer = SendBuffer(math.inf)
    assert len(buffer) == 0
    assert buffer.byte_size == 0
    assert buffer.overflowing is False
    assert buffer.take_all() == []


def test_push_keeps_order_and_counts_bytes() -> None:
    buffer = SendBuffer(math.inf)
    assert buffer.push("a") is True
    assert buffer.push(b"bc") is True
    assert buffer.push("é") is True
    assert len(buffer) == 3
    assert buffer.byte_size == 1 + 2 + 2
    assert buffer.take_all() == ["a", b"bc", "é"]
    assert len(buffer) == 0
    assert buffer.byte_size == 0


def test_limit_keeps_the_first_messages() -> None:
    buffer = SendBuffer(2)
    assert [buffer.push(m) for m in ("1", "2", "3", "4")] == [True, True, False, False]
    assert buffer.overflowing is True
    assert buffer.byte_size == 2
    assert buffer.take_all() == ["1", "2"]
    assert buffer.overflowing is False
    assert buffer.push("5") is True


def test_overflowing_only_after_a_drop() -> None:
    buffer = SendBuffer(1)
    buffer.push("a")
    assert buffer.overflowing is False
    buffer.push("b")
    assert buffer.overflowing is True


def test_zero_limit_drops_everything() -> None:
    buffer = SendBuffer(0)
    assert buffer.push("a") is False
    assert len(buffer) == 0
    assert buffer.overflowing is True


def test_unlimited_buffer() -> None:
    buffer = SendBuffer(math.inf)
    for i in range(10_000):
        assert buffer.push(str(i))
    assert len(buffer) == 10_000
    assert buffer.overflowing is False


def test_push_front_restores_order_ahead_of_newer_messages() -> None:
    buffer = SendBuffer(math.inf)
    buffer.push("c")
    buffer.push("d")
    buffer.push_front(["a", b"b"])
    assert len(buffer) == 4
    assert buffer.byte_size == 4
    assert buffer.take_all() == ["a", b"b", "c", "d"]


def test_push_front_accepts_any_iterable_and_empty() -> None:
    buffer = SendBuffer(math.inf)
    buffer.push_front(iter(["x", "y"]))
    buffer.push_front([])
    assert buffer.take_all() == ["x", "y"]


def test_push_front_ignores_the_limit() -> None:
    buffer = SendBuffer(1)
    buffer.push("new")
    buffer.push_front(["old1", "old2"])
    assert len(buffer) == 3
    assert buffer.push("newer") is False
    assert buffer.take_all() == ["old1", "old2", "new"]


@given(
    limit=st.one_of(st.integers(min_value=0, max_value=8), st.just(math.inf)),
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("push"), st.text(max_size=4)),
            st.tuples(st.just("front"), st.lists(st.binary(max_size=4), max_size=3)),
            st.tuples(st.just("take"), st.none()),
        ),
        max_size=40,
    ),
)
def test_buffer_model(limit: float, ops: list[tuple[str, object]]) -> None:
    buffer = SendBuffer(limit)
    model: list[Message] = []
    taken: list[Message] = []
    for op, arg in ops:
        if op == "push":
            assert isinstance(arg, str)
            accepted = buffer.push(arg)
            assert accepted == (len(model) < limit)
            if accepted:
                model.append(arg)
                assert len(buffer) <= max(limit, len(model))
        elif op == "front":
            assert isinstance(arg, list)
            model[:0] = arg
            buffer.push_front(arg)
        else:
            taken = buffer.take_all()
            assert taken == model
            model = []
            assert buffer.overflowing is False
        assert len(buffer) == len(model)
        assert buffer.byte_size == sum(message_size(m) for m in model)
    assert buffer.take_all() == model
