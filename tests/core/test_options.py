"""Option validation: wrong types raise TypeError, bad ranges ValueError, and the message names the option."""

from __future__ import annotations

import math
from typing import Any

import pytest

from partysocket.core.options import DEFAULT_MAX_DELAY, Options, check_close_args
from partysocket.events import CloseEvent


def fixed(value: float) -> Any:
    def draw() -> float:
        return value

    return draw


def build(**options: Any) -> Options:
    return Options.build(random=fixed(0.5), **options)


def test_defaults() -> None:
    options = build()
    assert options.max_reconnection_delay == DEFAULT_MAX_DELAY == 10.0
    assert options.reconnection_delay_grow_factor == 1.3
    assert options.min_uptime == 5.0
    assert options.connection_timeout == 4.0
    assert options.max_retries == math.inf
    assert options.max_enqueued_messages == math.inf
    assert options.start_closed is False
    assert options.jitter == 0.0
    assert options.ping_interval == 20.0
    assert options.ping_timeout == 20.0
    assert options.debug is False
    assert options.should_reconnect_on_close is None


@pytest.mark.parametrize(("draw", "expected"), [(0.0, 1.0), (0.25, 2.0), (0.5, 3.0), (0.999, 4.996)])
def test_default_min_reconnection_delay_is_drawn(draw: float, expected: float) -> None:
    calls: list[float] = []

    def random() -> float:
        calls.append(draw)
        return draw

    options = Options.build(random=random)
    assert options.min_reconnection_delay == pytest.approx(expected)
    assert 1.0 <= options.min_reconnection_delay < 5.0
    assert len(calls) == 1


def test_explicit_min_reconnection_delay_draws_nothing() -> None:
    def random() -> float:
        raise AssertionError("no draw expected")

    assert Options.build(random=random, min_reconnection_delay=2).min_reconnection_delay == 2.0
    assert Options.build(random=random, min_reconnection_delay=0).min_reconnection_delay == 0.0


def test_values_are_stored_as_floats() -> None:
    options = build(
        max_reconnection_delay=30,
        min_reconnection_delay=1,
        reconnection_delay_grow_factor=2,
        min_uptime=0,
        connection_timeout=10,
        jitter=1,
        max_retries=3,
        max_enqueued_messages=0,
        ping_interval=1,
        ping_timeout=None,
        start_closed=True,
        debug=True,
    )
    assert options.max_reconnection_delay == 30.0
    assert isinstance(options.max_reconnection_delay, float)
    assert options.min_reconnection_delay == 1.0
    assert options.reconnection_delay_grow_factor == 2.0
    assert options.min_uptime == 0.0
    assert options.connection_timeout == 10.0
    assert options.jitter == 1.0
    assert options.max_retries == 3
    assert options.max_enqueued_messages == 0
    assert options.ping_interval == 1.0
    assert options.ping_timeout is None
    assert options.start_closed is True
    assert options.debug is True


@pytest.mark.parametrize("name", ["max_retries", "max_enqueued_messages"])
@pytest.mark.parametrize("value", [None, math.inf])
def test_limits_none_and_inf_mean_unlimited(name: str, value: Any) -> None:
    assert getattr(build(**{name: value}), name) == math.inf


@pytest.mark.parametrize("name", ["max_retries", "max_enqueued_messages"])
@pytest.mark.parametrize("value", [0, 1, 10**9])
def test_limits_accept_non_negative_ints(name: str, value: int) -> None:
    assert getattr(build(**{name: value}), name) == value


@pytest.mark.parametrize("name", ["max_retries", "max_enqueued_messages"])
@pytest.mark.parametrize(
    ("value", "error"),
    [
        (-1, ValueError),
        (1.5, TypeError),
        (3.0, TypeError),
        ("3", TypeError),
        (True, TypeError),
        (False, TypeError),
        (math.nan, TypeError),
        (-math.inf, TypeError),
        ([3], TypeError),
    ],
)
def test_limits_reject_bad_values(name: str, value: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match=name):
        build(**{name: value})


DURATIONS = [
    "max_reconnection_delay",
    "min_reconnection_delay",
    "reconnection_delay_grow_factor",
    "min_uptime",
    "connection_timeout",
    "jitter",
    "ping_interval",
    "ping_timeout",
]


@pytest.mark.parametrize("name", DURATIONS)
@pytest.mark.parametrize("value", [True, False, "1", b"1", [1.0], object(), 1j])
def test_numbers_reject_wrong_types(name: str, value: Any) -> None:
    with pytest.raises(TypeError, match=name):
        build(**{name: value})


@pytest.mark.parametrize("name", DURATIONS)
@pytest.mark.parametrize("value", [-0.001, -1, math.nan, math.inf, -math.inf])
def test_numbers_reject_negative_nan_and_infinite(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=name):
        build(**{name: value})


@pytest.mark.parametrize("name", ["max_reconnection_delay", "min_reconnection_delay", "min_uptime"])
def test_durations_accept_zero(name: str) -> None:
    assert getattr(build(**{name: 0}), name) == 0.0


def test_connection_timeout_of_zero_is_rejected() -> None:
    with pytest.raises(ValueError, match="connection_timeout must be > 0"):
        build(connection_timeout=0)


@pytest.mark.parametrize("value", [0.0, 0.5, 0.999])
def test_grow_factor_below_one_is_rejected(value: float) -> None:
    with pytest.raises(ValueError, match="reconnection_delay_grow_factor"):
        build(reconnection_delay_grow_factor=value)


@pytest.mark.parametrize("value", [1, 1.0, 1.3, 5])
def test_grow_factor_of_one_or_more_is_accepted(value: float) -> None:
    assert build(reconnection_delay_grow_factor=value).reconnection_delay_grow_factor == value


@pytest.mark.parametrize("value", [1.0001, 2, 100])
def test_jitter_above_one_is_rejected(value: float) -> None:
    with pytest.raises(ValueError, match="jitter"):
        build(jitter=value)


@pytest.mark.parametrize("value", [0, 0.0, 0.3, 1, 1.0])
def test_jitter_in_range_is_accepted(value: float) -> None:
    assert build(jitter=value).jitter == value


@pytest.mark.parametrize("name", ["ping_interval", "ping_timeout"])
def test_ping_options_none_disables_and_zero_is_rejected(name: str) -> None:
    assert getattr(build(**{name: None}), name) is None
    with pytest.raises(ValueError, match=name):
        build(**{name: 0})


@pytest.mark.parametrize("name", ["start_closed", "debug"])
@pytest.mark.parametrize("value", [0, 1, "yes", None])
def test_flags_must_be_bools(name: str, value: Any) -> None:
    with pytest.raises(TypeError, match=name):
        build(**{name: value})


@pytest.mark.parametrize("value", [True, "no", 0, object()])
def test_should_reconnect_on_close_must_be_callable(value: Any) -> None:
    with pytest.raises(TypeError, match="should_reconnect_on_close"):
        build(should_reconnect_on_close=value)


def test_should_reconnect_on_close_callable_is_kept() -> None:
    def policy(event: CloseEvent) -> bool:
        return event.code != 4000

    options = build(should_reconnect_on_close=policy)
    assert options.should_reconnect_on_close is policy


def test_options_are_frozen() -> None:
    options = build()
    with pytest.raises(AttributeError):
        options.max_retries = 3  # type: ignore[misc]


def test_messages_say_what_to_pass_instead() -> None:
    with pytest.raises(TypeError) as type_error:
        build(max_retries="3")
    assert "None" in str(type_error.value)
    with pytest.raises(ValueError) as value_error:
        build(ping_interval=0)
    assert "None" in str(value_error.value)


# -- close arguments --------------------------------------------------------------------------


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1011, 1012, 1013, 1014, 3000, 3500, 4999])
def test_check_close_args_accepts_sendable_codes(code: int) -> None:
    assert check_close_args(code, "why") == (code, "why")


@pytest.mark.parametrize("code", [-1, 0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 10_000])
def test_check_close_args_rejects_other_codes(code: int) -> None:
    with pytest.raises(ValueError, match=f"close code {code}"):
        check_close_args(code, "")


@pytest.mark.parametrize("code", [True, False, "1000", 1000.0, None])
def test_check_close_args_rejects_non_int_codes(code: Any) -> None:
    with pytest.raises((TypeError, ValueError), match="code"):
        check_close_args(code, "")


def test_check_close_args_reason_byte_limit() -> None:
    assert check_close_args(1000, "a" * 123) == (1000, "a" * 123)
    assert check_close_args(1000, "é" * 61 + "a")[1] == "é" * 61 + "a"
    assert len(("é" * 62).encode()) == 124
    with pytest.raises(ValueError, match="123"):
        check_close_args(1000, "é" * 62)
    with pytest.raises(ValueError, match="123"):
        check_close_args(1000, "a" * 124)


@pytest.mark.parametrize("reason", [None, b"bye", 5])
def test_check_close_args_reason_must_be_str(reason: Any) -> None:
    with pytest.raises(TypeError, match="reason"):
        check_close_args(1000, reason)
