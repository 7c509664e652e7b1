"""Durations: Go-style strings, numbers of seconds and ``timedelta``, all as float seconds.

Grammar (Go's ``time.ParseDuration``): an optional sign, then one or more
``<number><unit>`` parts with no spaces, e.g. ``"300ms"``, ``"1.5s"``,
``"1h30m"``, ``"2h45m10.5s"``. A number is decimal digits with an optional
fraction (``"1."``, ``".5"`` and ``"1.5"`` are all numbers). Units:
``ns``, ``us`` (also ``µs``/``μs``), ``ms``, ``s``, ``m``, ``h``. The bare
string ``"0"`` is the only string without a unit. Numbers (``int``/``float``)
are seconds; ``datetime.timedelta`` is converted exactly. Booleans, NaN,
infinities, empty strings, spaces and unknown units are refused with a
``ValueError`` that names the value. So are magnitudes over
:data:`MAX_SECONDS` (10**12 s, about 31,700 years: every duration fits a
``timedelta``) and strings over :data:`MAX_TEXT` characters.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from decimal import Decimal
from functools import lru_cache

# Longest units first so "ms" is not read as "m" followed by garbage.
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
MAX_SECONDS = 10**12
"""Largest magnitude of a duration, in seconds (about 31,700 years)."""
MAX_TEXT = 100
"""Longest duration string accepted, in characters."""

_HELP = 'expected a duration like "500ms", "10s" or "1h30m" (units ns, us, ms, s, m, h)'

DurationLike = float | int | str | timedelta
"""What every time API of ``actors`` accepts as a duration."""


def parse_duration(value: DurationLike) -> float:
    """Convert a duration to seconds.

    Args:
        value (str | int | float | timedelta): A Go-style string (``"1h30m"``,
            ``"-1.5s"``, ``"250us"``), a number of seconds, or a timedelta.

    Returns:
        float: Seconds; may be zero or negative (see :func:`require_period`).

    Raises:
        ValueError: If ``value`` is not a duration; the message names it.

    Example::

        >>> parse_duration("1h30m")
        5400.0
        >>> parse_duration("300ms")
        0.3
    """
    kind = type(value)
    if kind is float or kind is int:
        return _check_number(value)  # type: ignore[arg-type]
    if kind is str:
        if len(value) > MAX_TEXT:  # type: ignore[arg-type]
            raise ValueError(
                f"invalid duration {_short(value)}: longer than {MAX_TEXT} characters; {_HELP}"
            )
        return _parse_string(value)
    if isinstance(value, timedelta):
        return value / timedelta(seconds=1)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _check_number(value)
    raise ValueError(
        f"invalid duration {_short(value)}: {_HELP}, a number of seconds or a timedelta"
    )


def _short(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters (a huge int's repr is never built)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**50:
        return f"an integer of about {len(format(abs(value), 'x')) * 1.2:.0f} digits"
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-2:]}"


def _check_number(value: float) -> float:
    """Return ``value`` as float seconds if it is finite and within ``MAX_SECONDS``."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"invalid duration {value!r}: must be finite")
    if not -MAX_SECONDS <= value <= MAX_SECONDS:
        raise ValueError(
            f"invalid duration {_short(value)}: more than {MAX_SECONDS:.0e} seconds "
            "(about 31,700 years)"
        )
    return float(value)


@lru_cache(maxsize=256)
def _parse_string(text: str) -> float:
    """Parse a Go duration string (cached: programs reuse a handful of literals)."""
    body = text
    negative = False
    if body[:1] in ("+", "-"):
        negative = body[0] == "-"
        body = body[1:]
    if body == "0":
        return 0.0
    if not body:
        raise ValueError(f"invalid duration {text!r}: {_HELP}")
    total = Decimal(0)
    pos = 0
    while pos < len(body):
        match = _PART.match(body, pos)
        if match is None:
            rest = body[pos:]
            if re.match(r"\d+\.?\d*$|\.\d+$", rest):
                raise ValueError(f"invalid duration {text!r}: missing unit after {rest!r}; {_HELP}")
            raise ValueError(f"invalid duration {text!r}: {_HELP}")
        total += Decimal(match.group(1)) * _UNIT_NS[match.group(2)]
        pos = match.end()
    if total > MAX_SECONDS * 1_000_000_000:
        raise ValueError(
            f"invalid duration {text!r}: more than {MAX_SECONDS:.0e} seconds (about 31,700 years)"
        )
    seconds = float(total / 1_000_000_000)
    return -seconds if negative else seconds


def require_period(value: DurationLike, what: str = "period") -> float:
    """Parse ``value`` and insist it is strictly positive.

    Args:
        value (str | int | float | timedelta): The duration.
        what (str): What it is, for the message (``"period"``, ``"duration"``).

    Returns:
        float: Seconds, > 0.

    Raises:
        ValueError: If ``value`` is malformed, zero or negative, e.g.
            ``invalid period '0s': must be > 0``.
    """
    seconds = parse_duration(value)
    if not seconds > 0:
        raise ValueError(f"invalid {what} {value!r}: must be > 0")
    return seconds


def format_duration(seconds: float) -> str:
    """Format seconds the way Go prints a ``time.Duration``.

    Below one second the largest fitting unit is used with a decimal fraction
    (``"1.5ms"``, ``"250us"``, ``"10ns"``); from one second up it is hours,
    minutes and seconds (``"1h30m0s"``, ``"1m0.5s"``, ``"2s"``). Zero is
    ``"0s"``. Values are rounded to whole nanoseconds; ``us`` is spelled in
    ASCII (``parse_duration`` reads it back).

    Args:
        seconds: A finite number of seconds (an int or float, not a bool); negative ones get a
            leading ``-``.

    Raises:
        ValueError: If ``seconds`` is not a finite number.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError(f"cannot format {_short(seconds)} as a duration: not a number")
    if isinstance(seconds, float) and not math.isfinite(seconds):
        raise ValueError(f"cannot format {seconds!r} as a duration: must be finite")
    ns = round(Decimal(seconds) * 1_000_000_000)
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("us", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _fraction(ns, size) + unit
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _fraction(rest, 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text


def _fraction(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    if not frac:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{frac:0{digits}d}".rstrip("0")


def to_timedelta(value: timedelta | float, name: str, *, allow_zero: bool = False) -> timedelta:
    """Convert a duration given as a timedelta or as seconds to a timedelta.

    Args:
        value (timedelta | float): A ``timedelta`` or a number of seconds.
        name (str): The argument name, for the error message.
        allow_zero (bool): Whether zero is accepted (negative never is).

    Returns:
        timedelta: The duration, rounded to microseconds.

    Raises:
        ValueError: If ``value`` is negative, not finite, zero when zero is not allowed, or not a
            duration at all.
    """
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
        if abs(value) > MAX_SECONDS:
            raise ValueError(
                f"{name} must be at most {MAX_SECONDS:.0e} seconds, got {_short(value)}"
            )
        result = timedelta(seconds=value)
    else:
        raise ValueError(f"{name} must be a timedelta or a number of seconds, got {_short(value)}")
    if result < timedelta(0) or (result == timedelta(0) and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return result


__all__ = [
    "MAX_SECONDS",
    "MAX_TEXT",
    "DurationLike",
    "format_duration",
    "parse_duration",
    "require_period",
    "to_timedelta",
]
