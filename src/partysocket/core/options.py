"""One validated set of reconnection options.

Every duration is in seconds. ``None`` and ``math.inf`` both mean "unlimited"
for the two limits (``max_retries``, ``max_enqueued_messages``); inside the
core they are stored as ``math.inf`` so comparisons stay simple.

Validation happens once, at construction, and raises ``TypeError`` for a value
of the wrong type and ``ValueError`` for a value out of range; every message
names the option and says what to pass instead.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Options", "check_close_args", "DEFAULT_MAX_DELAY"]

DEFAULT_MAX_DELAY = 10.0


def _number(name: str, value: object, *, minimum: float = 0.0, allow_inf: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds (int or float), got {type(value).__name__}")
    number = float(value)
    if math.isnan(number):
        raise ValueError(f"{name} must be a number, got NaN")
    if math.isinf(number) and not allow_inf:
        raise ValueError(f"{name} must be finite, got {value!r}")
    if number < minimum:
        raise ValueError(f"{name} must be >= {minimum:g}, got {value!r}")
    return number


def _limit(name: str, value: object) -> float:
    """A count limit: None or inf for unlimited, else a non-negative int."""
    if value is None:
        return math.inf
    if isinstance(value, float) and math.isinf(value) and value > 0:
        return math.inf
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a non-negative int, or None (or math.inf) for unlimited; got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0 (or None for unlimited), got {value!r}")
    return float(value)


def _positive(name: str, value: object) -> float:
    number = _number(name, value)
    if number == 0:
        raise ValueError(f"{name} must be > 0 seconds, got {value!r}")
    return number


def _optional_interval(name: str, value: object) -> float | None:
    if value is None:
        return None
    number = _number(name, value)
    if number == 0:
        raise ValueError(f"{name} must be > 0; pass None to disable it")
    return number


def _callable_or_none(name: str, value: object) -> None:
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be a callable or None, got {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class Options:
    """The validated reconnection policy shared by every driver."""

    max_reconnection_delay: float
    min_reconnection_delay: float
    reconnection_delay_grow_factor: float
    min_uptime: float
    connection_timeout: float
    max_retries: float
    max_enqueued_messages: float
    start_closed: bool
    jitter: float
    ping_interval: float | None
    ping_timeout: float | None
    debug: bool
    should_reconnect_on_close: Callable[[Any], bool] | None

    @classmethod
    def build(
        cls,
        *,
        random: Callable[[], float],
        max_reconnection_delay: object = DEFAULT_MAX_DELAY,
        min_reconnection_delay: object = None,
        reconnection_delay_grow_factor: object = 1.3,
        min_uptime: object = 5.0,
        connection_timeout: object = 4.0,
        max_retries: object = None,
        max_enqueued_messages: object = None,
        start_closed: object = False,
        jitter: object = 0.0,
        ping_interval: object = 20.0,
        ping_timeout: object = 20.0,
        debug: object = False,
        should_reconnect_on_close: object = None,
    ) -> Options:
        """Validate raw option values. ``random`` draws the default minimum delay."""
        max_delay = _number("max_reconnection_delay", max_reconnection_delay)
        if min_reconnection_delay is None:
            min_delay = 1.0 + random() * 4.0
        else:
            min_delay = _number("min_reconnection_delay", min_reconnection_delay)
        grow = _number("reconnection_delay_grow_factor", reconnection_delay_grow_factor, minimum=1.0)
        for name, flag in (("start_closed", start_closed), ("debug", debug)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, got {flag!r}")
        jitter_value = _number("jitter", jitter)
        if jitter_value > 1:
            raise ValueError(f"jitter must be between 0 and 1, got {jitter!r}")
        _callable_or_none("should_reconnect_on_close", should_reconnect_on_close)
        if inspect.iscoroutinefunction(should_reconnect_on_close):
            raise TypeError(
                "should_reconnect_on_close must be a plain function returning a bool (it decides while the "
                "close event is dispatched), not a coroutine function; keep what it needs in a variable"
            )
        return cls(
            max_reconnection_delay=max_delay,
            min_reconnection_delay=min_delay,
            reconnection_delay_grow_factor=grow,
            min_uptime=_number("min_uptime", min_uptime),
            connection_timeout=_positive("connection_timeout", connection_timeout),
            max_retries=_limit("max_retries", max_retries),
            max_enqueued_messages=_limit("max_enqueued_messages", max_enqueued_messages),
            start_closed=bool(start_closed),
            jitter=jitter_value,
            ping_interval=_optional_interval("ping_interval", ping_interval),
            ping_timeout=_optional_interval("ping_timeout", ping_timeout),
            debug=bool(debug),
            should_reconnect_on_close=should_reconnect_on_close,  # type: ignore[arg-type]
        )


_SENDABLE_CODES = (range(1000, 1004), range(1007, 1015), range(3000, 5000))


def check_close_args(code: object, reason: object) -> tuple[int, str]:
    """Validate a close code and reason the way a browser does.

    Codes 1000-1003, 1007-1014 and 3000-4999 may be sent by an endpoint; the
    reason must encode to at most 123 UTF-8 bytes.
    """
    if isinstance(code, bool) or not isinstance(code, int):
        raise TypeError(f"close code must be an int, got {type(code).__name__}")
    if not any(code in codes for codes in _SENDABLE_CODES):
        raise ValueError(
            f"close code {code} cannot be sent; use 1000 (normal), 1001-1003, 1007-1014, "
            "or an application code in 3000-4999"
        )
    if not isinstance(reason, str):
        raise TypeError(f"close reason must be a str, got {type(reason).__name__}")
    if len(reason.encode("utf-8")) > 123:
        raise ValueError("close reason must be at most 123 bytes once encoded as UTF-8")
    return code, reason
