"""A private Go-style duration parser used to validate duration fields of entries.

XX: temporary. The lead will replace ``_parse_duration`` by ``actors.parse_duration`` once the
kernel ships it; keep this module private and its behaviour identical (Go syntax, numbers are
seconds) so the swap is a one-line import change.
"""

from __future__ import annotations

import math
import re

# "ms" must be tried before "m", and the micro sign has two code points in the wild.
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_HELP = 'expected a duration like "500ms", "10s" or "1h30m" (units ns, us, ms, s, m, h)'


def _parse_duration(value: object) -> float:
    """Parse a Go-style duration string, or a number of seconds, into seconds.

    Args:
        value (str | int | float): ``"500ms"``, ``"1h30m"``, ``"-2s"``, ``"0"``, or a number of
            seconds. Booleans are refused (YAML turns ``yes`` into ``True``).

    Returns:
        float: the duration in seconds; may be zero or negative, callers check the range.

    Raises:
        ValueError: the value is not a duration; the message names the value.
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}: {_HELP} or a number of seconds")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"invalid duration {value!r}: must be finite")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"invalid duration {value!r}: {_HELP} or a number of seconds")
    text = value
    sign = 1.0
    if text[:1] in ("+", "-"):
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    if text == "0":
        return 0.0
    if not text:
        raise ValueError(f"invalid duration {value!r}: {_HELP}")
    total = 0.0
    pos = 0
    while pos < len(text):
        match = _PART.match(text, pos)
        if match is None:
            raise ValueError(f"invalid duration {value!r}: {_HELP}")
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return sign * total
