"""Restart backoff: a validated configuration and the per-child state a supervisor keeps.

The delay before restart ``n`` (the ``n``-th consecutive failure) is::

    base_n = min(initial * factor ** (n - 1), max_delay)
    delay_n = base_n * (1 + jitter * u),  u uniform in [-1, 1]

so with the defaults and ``jitter=0`` the delays are exactly 1, 2, 4, 8, 16, 32, 64, 90, 90, ...
seconds. Jitter is applied after the cap, so a capped delay varies in ``[81, 99]`` with the
default 10 % jitter.

The state must live as long as the supervised child, across restarts: Wippy's controller builds a
fresh calculator for every retry, so its delay never grows past the first one. ``BackoffState``
exists so that mistake has nowhere to happen.
"""

from __future__ import annotations

import math
import random
from datetime import timedelta

import attrs

from .._time._duration import to_timedelta

__all__ = ["Backoff", "BackoffState"]


def _to_initial(value: timedelta | float) -> float:
    return to_timedelta(value, "initial", allow_zero=True).total_seconds()


def _to_max_delay(value: timedelta | float) -> float:
    return to_timedelta(value, "max_delay", allow_zero=True).total_seconds()


def _to_threshold(value: timedelta | float | None) -> float | None:
    if value is None:
        return None
    return to_timedelta(value, "stable_threshold", allow_zero=True).total_seconds()


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@attrs.frozen
class Backoff:
    """How long to wait before restarting a failed child, and when to give up.

    Every zero is meaningful: ``initial=0`` restarts at once, ``factor=1`` keeps the delay
    constant, ``jitter=0`` disables jitter, ``max_attempts=0`` never gives up.

    Example::

        Backoff(initial=0.5, factor=3, max_delay=60, jitter=0)

    Raises:
        ValueError: If a field is out of range or of the wrong type; the message names the field and
            the value.
    """

    initial: float = attrs.field(default=1.0, converter=_to_initial)
    """The first delay in seconds (a ``timedelta`` or seconds)."""
    factor: float = 2.0
    """The growth per consecutive failure, >= 1."""
    max_delay: float = attrs.field(default=90.0, converter=_to_max_delay)
    """The cap on the delay before jitter, >= ``initial``."""
    jitter: float = 0.1
    """The fraction of the delay added or removed at random, in [0, 1]."""
    max_attempts: int = 0
    """The most runs in a row that may fail, the first run included (0: unlimited). With 5,
    the fifth consecutive failure gives up: 5 runs, 4 restarts."""
    stable_threshold: float | None = attrs.field(default=5.0, converter=_to_threshold)
    """A run lasting at least this long (seconds) resets the failure count; None: never."""

    def __attrs_post_init__(self) -> None:
        if not _is_number(self.factor) or not math.isfinite(self.factor) or self.factor < 1:
            raise ValueError(f"factor must be a finite number >= 1, got {self.factor!r}")
        if not _is_number(self.jitter) or not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be a number in [0, 1], got {self.jitter!r}")
        if self.max_delay < self.initial:
            raise ValueError(
                f"max_delay must be >= initial ({self.initial!r}), got {self.max_delay!r}"
            )
        attempts = self.max_attempts
        if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 0:
            raise ValueError(f"max_attempts must be an int >= 0, got {attempts!r}")

    def base_delay(self, failures: int) -> float:
        """Return the delay after ``failures`` consecutive failures, before jitter.

        Args:
            failures (int): The consecutive failure count, >= 1.

        Returns:
            float: ``min(initial * factor ** (failures - 1), max_delay)`` seconds.

        Raises:
            ValueError: If ``failures`` < 1.
        """
        if not isinstance(failures, int) or failures < 1:
            raise ValueError(f"failures must be an int >= 1, got {failures!r}")
        try:
            raw = self.initial * self.factor ** (failures - 1)
        except OverflowError:
            raw = math.inf
        return min(raw, self.max_delay)

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """Return the jittered delay after ``failures`` consecutive failures.

        Args:
            failures (int): The consecutive failure count, >= 1.
            rng (random.Random | None): The random source (seed it for reproducible delays);
                unused when ``jitter`` is 0.

        Returns:
            float: Seconds, in ``base * [1 - jitter, 1 + jitter]``.

        Raises:
            ValueError: If ``failures`` < 1.
        """
        base = self.base_delay(failures)
        if not self.jitter or not base:
            return base
        source = rng if rng is not None else random.Random()
        return base * (1 + self.jitter * source.uniform(-1.0, 1.0))


@attrs.define(eq=False)
class BackoffState:
    """The failure count of one supervised child, kept across its restarts.

    Example::

        state = BackoffState(Backoff())
        delay = state.record_failure(run_duration=0.2)  # 1.0 (about), then 2.0, 4.0, ...
    """

    config: Backoff = attrs.field(factory=Backoff)
    """The backoff configuration."""
    rng: random.Random = attrs.field(factory=random.Random, repr=False)
    """The random source for jitter; pass a seeded one for reproducible delays."""
    _failures: int = attrs.field(default=0, init=False)

    @property
    def failures(self) -> int:
        """The consecutive failures recorded since the last reset."""
        return self._failures

    def record_failure(self, run_duration: timedelta | float) -> float | None:
        """Record that a run failed, and say how long to wait before the next one.

        A run that lasted at least ``stable_threshold`` first resets the count, so its failure
        counts as the first.

        Args:
            run_duration (timedelta | float): How long the failed run lasted (seconds or
                timedelta).

        Returns:
            float | None: The delay in seconds, or None when ``max_attempts`` is reached and the
            child should not be restarted.

        Raises:
            ValueError: If ``run_duration`` is negative or not a finite duration.
        """
        duration = to_timedelta(run_duration, "run_duration", allow_zero=True).total_seconds()
        threshold = self.config.stable_threshold
        if threshold is not None and duration >= threshold:
            self._failures = 0
        self._failures += 1
        limit = self.config.max_attempts
        if limit and self._failures >= limit:
            return None
        return self.config.delay(self._failures, self.rng)

    def reset(self) -> None:
        """Forget the failures, e.g. after the child was stopped on purpose."""
        self._failures = 0
