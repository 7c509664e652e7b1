"""Hostile durations and cron strings: only ``ValueError`` naming the value, never a hang.

``ACTORS_FUZZ=long`` runs many more examples.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors._scheduling._cron import CronTrigger
from actors._time._duration import MAX_SECONDS, parse_duration, to_timedelta

LONG = os.environ.get("ACTORS_FUZZ") == "long"
FUZZ = settings(
    max_examples=5000 if LONG else 300,
    deadline=None,
    derandomize=not LONG,
    suppress_health_check=list(HealthCheck),
)


@contextlib.contextmanager
def no_hang(seconds: float = 2.0) -> Iterator[None]:
    """Fail with TimeoutError if the block runs longer than ``seconds`` (SIGALRM)."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"hung for over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


UNITS = ["ns", "us", "µs", "ms", "s", "m", "h", "", "d", "x", " "]
DURATION_TEXT = st.one_of(
    st.text(max_size=40),
    st.lists(
        st.tuples(
            st.one_of(st.from_regex(r"\d{1,12}(\.\d{0,12})?", fullmatch=True), st.just("1" * 400)),
            st.sampled_from(UNITS),
        ),
        min_size=1,
        max_size=4,
    ).map(lambda parts: "".join(n + u for n, u in parts)),
    st.sampled_from(["1" * 400 + "h", "1e309", "1e309s", "-0", "+", "9" * 30 + "h", "nan", "inf"]),
)
NUMBERS = st.one_of(
    st.integers(),
    st.sampled_from([10**400, -(10**400), 2**1024]),
    st.floats(),
)


def attempt(fn: Callable[..., Any], *args: Any) -> tuple[Any, ValueError | None]:
    """``(fn(*args), None)``, or ``(None, error)`` when it raises ValueError."""
    try:
        return fn(*args), None
    except ValueError as exc:
        return None, exc


def _names(message: str, value: object) -> bool:
    """The message shows the value (its start, for a long one) or describes a huge integer."""
    if isinstance(value, int) and abs(value) > 10**50:
        return "digits" in message
    return repr(value)[:40] in message or str(value)[:40] in message


@pytest.mark.slow
class TestDurations:
    @FUZZ
    @given(value=st.one_of(DURATION_TEXT, NUMBERS))
    def test_parse_duration_is_bounded_or_names_the_value(self, value: object) -> None:
        """A result is finite and within MAX_SECONDS; anything else is a ValueError naming it."""
        with no_hang():
            seconds, error = attempt(parse_duration, value)
        if error is not None:
            assert _names(str(error), value), str(error)
        else:
            assert math.isfinite(seconds) and abs(seconds) <= MAX_SECONDS

    @FUZZ
    @given(value=NUMBERS)
    def test_to_timedelta_is_a_timedelta_or_names_the_value(self, value: float) -> None:
        with no_hang():
            result, error = attempt(to_timedelta, value, "period")
        if error is not None:
            assert str(error).startswith("period ") and _names(str(error), value)
        else:
            assert timedelta(0) < result <= timedelta(seconds=MAX_SECONDS)

    @pytest.mark.parametrize("value", [10**400, 1e309, "1" * 400 + "h", "9" * 30 + "h", 1e13])
    def test_reported_crashers(self, value: object) -> None:
        """The inputs of issue #17 (OverflowError, AssertionError) are ValueErrors now."""
        with pytest.raises(ValueError, match="invalid duration"):
            parse_duration(value)  # type: ignore[arg-type]


FIELD_TOKENS = st.one_of(
    st.sampled_from(["*", "?", "L", "W", "H", "H/15", "*/0", "*/5", "5-5", "1-100", "MON-FRI"]),
    st.sampled_from(["JAN", "jan-dec", "5#3", "L-2", "0-59/70", "22-2", "", "-", "/", ","]),
    st.integers(-5, 100).map(str),
    st.from_regex(r"\d{1,3}(-\d{1,3})?(/\d{1,3})?", fullmatch=True),
    st.just("9" * 400),
)
CRON_TEXT = st.one_of(
    st.lists(FIELD_TOKENS, min_size=1, max_size=7).map(" ".join),
    st.text(max_size=30),
    st.sampled_from(["@daily", "@reboot", "@", " " * 300, "* " * 200]),
)


@pytest.mark.slow
class TestCronStrings:
    @FUZZ
    @given(expr=CRON_TEXT, tz=st.sampled_from(["UTC", "Pacific/Kiritimati", "America/New_York"]))
    def test_cron_trigger_fires_or_names_the_expression(self, expr: str, tz: str) -> None:
        """CronTrigger raises only ValueError naming the expression; a valid one plans fires."""
        with no_hang():
            trigger, error = attempt(partial(CronTrigger, hash_id="fuzz"), expr, tz)
            if error is not None:
                assert "cron expression" in str(error) and repr(expr)[:30] in str(error)
                return
            for year in (2, 2024, 9998):
                after = datetime(year, 6, 1, tzinfo=UTC)
                fire = trigger.next_fire(after)
                assert fire is None or fire > after

    @pytest.mark.parametrize(
        ("expr", "field"),
        [
            ("61 * * * *", "minute field '61': 61 is out of range 0-59"),
            ("* 24 * * *", "hour field '24': 24 is out of range 0-23"),
            ("* * 0 * *", "day field '0': 0 is out of range 1-31"),
            ("* * * 1-13 *", "month field '1-13': 13 is out of range 1-12"),
            ("* * * * 9", "weekday field '9': 9 is out of range 0-7"),
            ("* * * * * 60", "second field '60': 60 is out of range 0-59"),
            ("*/0 * * * *", "minute field '*/0': step must be >= 1"),
        ],
    )
    def test_range_errors_name_the_field(self, expr: str, field: str) -> None:
        with pytest.raises(ValueError, match="invalid cron expression") as info:
            CronTrigger(expr)
        assert field in str(info.value)

    @pytest.mark.parametrize(
        ("expr", "rewrite"),
        [
            ("*/10 * * * * *", "'* * * * * */10'"),
            ("0 30 9 * * MON-FRI", "'30 9 * * MON-FRI 0'"),
            ("0 0 12 * * ?", "'0 12 * * ? 0'"),
            ("15 */5 * * * *", "'*/5 * * * * 15'"),
        ],
    )
    def test_seconds_first_is_refused_with_the_reading_spelled_out(
        self, expr: str, rewrite: str
    ) -> None:
        """Seconds are the LAST field here: a seconds-first expression is refused, not misread."""
        with pytest.raises(ValueError, match=r"seconds LAST") as info:
            CronTrigger(expr)
        assert rewrite in str(info.value)

    @pytest.mark.parametrize(
        "expr", ["* * * * * *", "* * * * * */10", "0 12 * * * 30", "5 * * * * 0-59"]
    )
    def test_unambiguous_six_field_expressions_still_work(self, expr: str) -> None:
        CronTrigger(expr)

    def test_everything_seconds_reading_of_a_minute_list(self) -> None:
        """'every second of minutes 0-4' is still expressible, with an explicit 0-59."""
        trigger = CronTrigger("0-4 * * * * 0-59")
        start = datetime(2024, 1, 1, tzinfo=UTC)
        assert trigger.plan(start, start + timedelta(minutes=10)).total == 5 * 60 - 1
