"""The delay schedule between connection attempts (pure arithmetic)."""

from __future__ import annotations

__all__ = ["retry_delay"]


def retry_delay(
    retry: int,
    *,
    min_delay: float,
    max_delay: float,
    grow_factor: float,
    jitter: float = 0.0,
    draw: float = 0.0,
) -> float:
    """Seconds to wait before retry number ``retry`` (1 for the first retry).

    ``min(min_delay * grow_factor ** (retry - 1), max_delay)``, then multiplied
    by ``1 - jitter * draw`` where ``draw`` is a random number in ``[0, 1)``
    supplied by the caller, so the factor is uniform in ``(1 - jitter, 1]``.
    Retry 0 (the first attempt, or one right after ``reconnect()``) has no delay.
    """
    if retry <= 0 or min_delay <= 0:
        return 0.0
    try:
        delay = min_delay * grow_factor ** (retry - 1)
    except OverflowError:
        delay = max_delay
    delay = min(delay, max_delay)
    return delay * (1.0 - jitter * draw)
