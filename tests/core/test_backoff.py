"""The delay schedule: ``min(min * grow ** (n - 1), max)`` times a jitter factor in ``[1 - jitter, 1]``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from partysocket.core.backoff import retry_delay


def delay(
    retry: int,
    min_delay: float = 3.0,
    max_delay: float = 10.0,
    grow: float = 1.3,
    jitter: float = 0.0,
    draw: float = 0.0,
) -> float:
    return retry_delay(retry, min_delay=min_delay, max_delay=max_delay, grow_factor=grow, jitter=jitter, draw=draw)


@pytest.mark.parametrize("retry", [0, -1, -100])
def test_no_delay_before_the_first_retry(retry: int) -> None:
    assert delay(retry) == 0.0
    assert delay(retry, jitter=1.0, draw=0.5) == 0.0


def test_reference_schedule() -> None:
    got = [delay(n) for n in range(1, 9)]
    assert got == pytest.approx([3.0, 3.9, 5.07, 6.591, 8.5683, 10.0, 10.0, 10.0])


def test_first_retry_waits_the_minimum() -> None:
    assert delay(1, min_delay=2.5) == 2.5


def test_grow_factor_one_is_constant() -> None:
    assert [delay(n, min_delay=2.0, grow=1.0) for n in (1, 2, 10, 1000)] == [2.0, 2.0, 2.0, 2.0]


def test_max_delay_caps_even_the_first_retry() -> None:
    assert delay(1, min_delay=20.0, max_delay=10.0) == 10.0


def test_huge_retry_numbers_are_capped_without_overflow() -> None:
    assert delay(10**6) == 10.0
    assert delay(10**9, grow=2.0, max_delay=7.5) == 7.5
    assert delay(3, min_delay=1.0, grow=1e308, max_delay=4.0) == 4.0


def test_zero_minimum_stays_zero_for_every_retry() -> None:
    """min(0 * grow ** (n - 1), max) == 0 for every n, however large n gets.

    ``min_reconnection_delay=0`` is accepted by the options, and with no delay an
    unreachable server runs through thousands of retries in seconds; once
    ``grow ** (n - 1)`` overflows a float the delay must not jump to the maximum.
    """
    assert delay(10, min_delay=0.0) == 0.0
    assert delay(5000, min_delay=0.0) == 0.0


@pytest.mark.parametrize(
    ("draw", "factor"),
    [(0.0, 1.0), (0.5, 0.75), (0.999, 1 - 0.5 * 0.999)],
)
def test_jitter_multiplies_by_one_minus_jitter_times_draw(draw: float, factor: float) -> None:
    assert delay(1, min_delay=4.0, jitter=0.5, draw=draw) == pytest.approx(4.0 * factor)


def test_jitter_applies_after_the_cap() -> None:
    assert delay(50, jitter=0.5, draw=0.5) == pytest.approx(7.5)


def test_zero_jitter_ignores_the_draw() -> None:
    assert delay(2, jitter=0.0, draw=0.9) == pytest.approx(3.9)


@given(
    retry=st.integers(min_value=1, max_value=5000),
    min_delay=st.floats(min_value=0.0, max_value=100.0),
    max_delay=st.floats(min_value=0.0, max_value=100.0),
    grow=st.floats(min_value=1.0, max_value=10.0),
    jitter=st.floats(min_value=0.0, max_value=1.0),
    draw=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_delay_properties(
    retry: int, min_delay: float, max_delay: float, grow: float, jitter: float, draw: float
) -> None:
    base = delay(retry, min_delay, max_delay, grow)
    assert 0.0 <= base <= max_delay
    if retry == 1:
        assert base == min(min_delay, max_delay)
    jittered = delay(retry, min_delay, max_delay, grow, jitter, draw)
    assert (1 - jitter) * base - 1e-9 <= jittered <= base + 1e-9
    assert jittered == pytest.approx(base * (1 - jitter * draw))


@given(
    min_delay=st.floats(min_value=0.0, max_value=100.0),
    max_delay=st.floats(min_value=0.0, max_value=100.0),
    grow=st.floats(min_value=1.0, max_value=10.0),
    retry=st.integers(min_value=1, max_value=4000),
)
def test_delay_never_decreases_without_jitter(min_delay: float, max_delay: float, grow: float, retry: int) -> None:
    assert delay(retry, min_delay, max_delay, grow) <= delay(retry + 1, min_delay, max_delay, grow)


@given(
    min_delay=st.floats(min_value=0.001, max_value=100.0),
    max_delay=st.floats(min_value=0.0, max_value=1000.0),
    grow=st.floats(min_value=1.0, max_value=3.0),
    retry=st.integers(min_value=1, max_value=30),
)
def test_delay_matches_the_formula(min_delay: float, max_delay: float, grow: float, retry: int) -> None:
    assert delay(retry, min_delay, max_delay, grow) == pytest.approx(min(min_delay * grow ** (retry - 1), max_delay))
