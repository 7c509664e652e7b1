"""Tests for durations (actors/_time/_duration.py)."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors import format_duration, parse_duration
from actors.lowlevel import require_period


class TestParseDuration:
    """parse_duration reads Go strings, numbers of seconds and timedeltas."""

    @pytest.mark.parametrize(
        ("text", "seconds"),
        [
            ("500ms", 0.5),
            ("1h30m", 5400.0),
            ("1.5s", 1.5),
            ("300ms", 0.3),
            ("2us", 2e-6),
            ("2µs", 2e-6),
            ("2μs", 2e-6),
            ("10ns", 1e-8),
            ("1h2m3.5s", 3723.5),
            ("2h45m10.5s", 9910.5),
            ("1m0.5s", 60.5),
            (".5s", 0.5),
            ("1.s", 1.0),
            ("0", 0.0),
            ("0s", 0.0),
            ("-1.5h", -5400.0),
            ("+3s", 3.0),
            ("1s500ms", 1.5),
        ],
    )
    def test_go_strings(self, text: str, seconds: float) -> None:
        """Each Go duration string converts to the expected seconds."""
        assert parse_duration(text) == pytest.approx(seconds, rel=1e-12, abs=1e-15)

    @pytest.mark.parametrize(("value", "seconds"), [(3, 3.0), (0.25, 0.25), (0, 0.0), (-2, -2.0)])
    def test_numbers_are_seconds(self, value: float, seconds: float) -> None:
        """Ints and floats are seconds, returned as float."""
        result = parse_duration(value)
        assert result == seconds
        assert type(result) is float

    def test_timedelta(self) -> None:
        """A timedelta converts to its total seconds, exactly."""
        assert parse_duration(timedelta(minutes=1, microseconds=5)) == 60.000005

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("", r"^invalid duration '': expected a duration like"),
            ("10", r"^invalid duration '10': missing unit after '10'"),
            ("1x", r"^invalid duration '1x': expected a duration like"),
            ("1 s", r"^invalid duration '1 s': expected"),
            ("s", r"^invalid duration 's': expected"),
            ("-", r"^invalid duration '-': expected"),
            ("1h30", r"^invalid duration '1h30': missing unit after '30'"),
            ("1.2.3s", r"^invalid duration '1.2.3s': expected"),
            (".s", r"^invalid duration '.s': expected"),
            ("1S", r"^invalid duration '1S': expected"),
        ],
    )
    def test_malformed_strings(self, value: str, message: str) -> None:
        """Malformed strings raise ValueError naming the value."""
        with pytest.raises(ValueError, match=message):
            parse_duration(value)

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            (True, r"^invalid duration True: expected"),
            (None, r"^invalid duration None: expected"),
            ([1], r"^invalid duration \[1\]: expected"),
            (math.nan, r"^invalid duration nan: must be finite$"),
            (math.inf, r"^invalid duration inf: must be finite$"),
            (-math.inf, r"^invalid duration -inf: must be finite$"),
        ],
    )
    def test_bad_types_and_non_finite(self, value: object, message: str) -> None:
        """Booleans, non-durations, NaN and infinities are refused."""
        with pytest.raises(ValueError, match=message):
            parse_duration(value)  # type: ignore[arg-type]


class TestRequirePeriod:
    """require_period accepts only strictly positive durations."""

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("0s", r"^invalid period '0s': must be > 0$"),
            ("0", r"^invalid period '0': must be > 0$"),
            (0, r"^invalid period 0: must be > 0$"),
            (-1.5, r"^invalid period -1.5: must be > 0$"),
            ("-5ms", r"^invalid period '-5ms': must be > 0$"),
            (timedelta(0), r"^invalid period datetime.timedelta\(0\): must be > 0$"),
        ],
    )
    def test_zero_and_negative(self, value: object, message: str) -> None:
        """Zero and negative periods raise ValueError naming the value."""
        with pytest.raises(ValueError, match=message):
            require_period(value)  # type: ignore[arg-type]

    def test_names_what(self) -> None:
        """The message says what the duration was for."""
        with pytest.raises(ValueError, match=r"^invalid duration '0s': must be > 0$"):
            require_period("0s", "duration")

    def test_malformed_is_a_parse_error(self) -> None:
        """A malformed value fails with the parse message."""
        with pytest.raises(ValueError, match=r"^invalid duration 'soon'"):
            require_period("soon")

    def test_positive(self) -> None:
        """Positive periods come back as seconds."""
        assert require_period("10ms") == 0.01


class TestFormatDuration:
    """format_duration prints Go-style durations that parse back."""

    @pytest.mark.parametrize(
        ("seconds", "text"),
        [
            (0, "0s"),
            (5400, "1h30m0s"),
            (60.5, "1m0.5s"),
            (2, "2s"),
            (1.5, "1.5s"),
            (0.0015, "1.5ms"),
            (0.3, "300ms"),
            (2.5e-4, "250us"),
            (1e-8, "10ns"),
            (-90, "-1m30s"),
            (3723.5, "1h2m3.5s"),
        ],
    )
    def test_table(self, seconds: float, text: str) -> None:
        """Known values format like Go's Duration.String."""
        assert format_duration(seconds) == text

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            (math.nan, r"^cannot format nan as a duration: must be finite$"),
            ("1s", r"^cannot format '1s' as a duration: not a number$"),
            (True, r"^cannot format True as a duration: not a number$"),
        ],
    )
    def test_errors(self, value: object, message: str) -> None:
        """Non-numbers and non-finite values are refused."""
        with pytest.raises(ValueError, match=message):
            format_duration(value)  # type: ignore[arg-type]

    @given(st.integers(min_value=-(10**15), max_value=10**15))
    def test_round_trip(self, ns: int) -> None:
        """Formatting whole nanoseconds and parsing back returns the same duration."""
        seconds = ns / 1e9
        assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, abs=1e-9)
