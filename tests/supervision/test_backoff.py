"""Tests for actors._supervision._backoff: the restart delay sequence and its per-child state."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors import Backoff, BackoffState


class TestBackoffConfig:
    """Backoff validates its fields and keeps zero values meaningful."""

    def test_defaults(self) -> None:
        """The defaults are 1 s, x2, 90 s cap, 10 % jitter, unlimited attempts, 5 s stable."""
        config = Backoff()
        assert (config.initial, config.factor, config.max_delay) == (1.0, 2.0, 90.0)
        assert (config.jitter, config.max_attempts, config.stable_threshold) == (0.1, 0, 5.0)

    def test_accepts_timedeltas(self) -> None:
        """Durations may be given as timedeltas and are stored as seconds."""
        config = Backoff(initial=timedelta(milliseconds=500), max_delay=timedelta(minutes=1))
        assert (config.initial, config.max_delay) == (0.5, 60.0)

    def test_zero_values_are_expressible(self) -> None:
        """initial 0, jitter 0, max_attempts 0 and stable_threshold 0 are all accepted as such."""
        config = Backoff(initial=0, jitter=0, max_attempts=0, stable_threshold=0, factor=1)
        assert config.delay(5) == 0.0
        assert config.stable_threshold == 0.0

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"initial": -1}, r"^initial must be >= 0, got -1$"),
            ({"factor": 0.5}, r"^factor must be a finite number >= 1, got 0\.5$"),
            ({"factor": 0}, r"^factor must be a finite number >= 1, got 0$"),
            ({"factor": float("inf")}, r"^factor must be a finite number >= 1, got inf$"),
            ({"jitter": -0.1}, r"^jitter must be a number in \[0, 1\], got -0\.1$"),
            ({"jitter": 1.5}, r"^jitter must be a number in \[0, 1\], got 1\.5$"),
            ({"max_delay": -5}, r"^max_delay must be >= 0, got -5$"),
            ({"max_delay": 0.5}, r"^max_delay must be >= initial \(1\.0\), got 0\.5$"),
            ({"max_attempts": -1}, r"^max_attempts must be an int >= 0, got -1$"),
            ({"max_attempts": 2.5}, r"^max_attempts must be an int >= 0, got 2\.5$"),
            ({"stable_threshold": -1}, r"^stable_threshold must be >= 0, got -1$"),
            ({"initial": float("nan")}, r"^initial must be a finite number of seconds, got nan$"),
            ({"initial": "1s"}, r"^initial must be a timedelta or a number of seconds, got '1s'$"),
        ],
    )
    def test_rejects_bad_values(self, kwargs: dict[str, object], message: str) -> None:
        """Each invalid field raises ValueError naming the field and the value."""
        with pytest.raises(ValueError, match=message):
            Backoff(**kwargs)  # type: ignore[arg-type]


class TestDelays:
    """The delay sequence follows min(initial * factor**(n-1), max_delay) with +/- jitter."""

    def test_documented_sequence_without_jitter(self) -> None:
        """With jitter 0 the delays are exactly 1, 2, 4, ... 64, then 90 forever."""
        state = BackoffState(Backoff(jitter=0))
        delays = [state.record_failure(0.1) for _ in range(10)]
        assert delays == [1, 2, 4, 8, 16, 32, 64, 90, 90, 90]

    def test_factor_one_is_constant(self) -> None:
        """factor=1 gives the same delay every time."""
        state = BackoffState(Backoff(initial=3, factor=1, jitter=0))
        assert [state.record_failure(0) for _ in range(4)] == [3, 3, 3, 3]

    def test_huge_attempt_numbers_stay_capped(self) -> None:
        """A failure count whose power overflows a float still gives max_delay."""
        assert Backoff(jitter=0).base_delay(100_000) == 90.0

    def test_base_delay_rejects_zero(self) -> None:
        """Failure counts start at 1."""
        with pytest.raises(ValueError, match=r"^failures must be an int >= 1, got 0$"):
            Backoff().base_delay(0)

    @given(
        failures=st.integers(min_value=1, max_value=40),
        jitter=st.floats(min_value=0, max_value=1),
        seed=st.integers(),
    )
    def test_jitter_stays_within_bounds(self, failures: int, jitter: float, seed: int) -> None:
        """A jittered delay lies within base * [1 - jitter, 1 + jitter]."""
        config = Backoff(jitter=jitter)
        base = config.base_delay(failures)
        delay = config.delay(failures, random.Random(seed))
        assert base * (1 - jitter) - 1e-9 <= delay <= base * (1 + jitter) + 1e-9

    def test_jitter_is_deterministic_with_a_seeded_rng(self) -> None:
        """Two states with equally seeded generators produce the same delays."""
        first = BackoffState(Backoff(), random.Random(7))
        second = BackoffState(Backoff(), random.Random(7))
        assert [first.record_failure(0) for _ in range(5)] == [
            second.record_failure(0) for _ in range(5)
        ]

    def test_jitter_spreads_both_ways(self) -> None:
        """Across many draws, jitter goes both below and above the base delay."""
        config, rng = Backoff(), random.Random(1)
        delays = [config.delay(1, rng) for _ in range(200)]
        assert min(delays) < 0.95
        assert max(delays) > 1.05


class TestBackoffState:
    """BackoffState counts consecutive failures across restarts."""

    def test_stable_run_resets_the_count(self) -> None:
        """A run lasting at least stable_threshold makes its failure count as the first."""
        state = BackoffState(Backoff(jitter=0))
        assert [state.record_failure(1) for _ in range(3)] == [1, 2, 4]
        assert state.record_failure(5) == 1
        assert state.failures == 1
        assert state.record_failure(timedelta(seconds=4.9)) == 2

    def test_none_threshold_never_resets(self) -> None:
        """stable_threshold=None keeps counting however long runs last."""
        state = BackoffState(Backoff(jitter=0, stable_threshold=None))
        assert [state.record_failure(3600) for _ in range(3)] == [1, 2, 4]

    def test_max_attempts_counts_runs(self) -> None:
        """max_attempts=3 allows three runs: two restarts, then None."""
        state = BackoffState(Backoff(jitter=0, max_attempts=3))
        assert [state.record_failure(0) for _ in range(3)] == [1, 2, None]

    def test_max_attempts_one_never_restarts(self) -> None:
        """max_attempts=1 gives up on the first failure."""
        assert BackoffState(Backoff(max_attempts=1)).record_failure(0) is None

    def test_stable_run_renews_attempts(self) -> None:
        """After a stable run the attempt budget starts again."""
        state = BackoffState(Backoff(jitter=0, max_attempts=2))
        assert state.record_failure(0) == 1
        assert state.record_failure(10) == 1
        assert state.record_failure(0) is None

    def test_reset(self) -> None:
        """reset() forgets the failures."""
        state = BackoffState(Backoff(jitter=0))
        state.record_failure(0)
        state.record_failure(0)
        state.reset()
        assert state.record_failure(0) == 1

    def test_rejects_negative_duration(self) -> None:
        """A negative run duration is an error naming the value."""
        with pytest.raises(ValueError, match=r"^run_duration must be >= 0, got -1$"):
            BackoffState().record_failure(-1)

    @given(st.lists(st.floats(min_value=0, max_value=20), min_size=1, max_size=30))
    def test_matches_a_model(self, durations: list[float]) -> None:
        """The delays equal a straightforward model of count, reset and cap."""
        state = BackoffState(Backoff(jitter=0, max_attempts=6))
        count = 0
        for duration in durations:
            count = 1 if duration >= 5 else count + 1
            expected = None if count >= 6 else min(2.0 ** (count - 1), 90.0)
            assert state.record_failure(duration) == expected
