"""Two stateless functions. ``funcs.call`` finds them by entry id; nothing is kept between calls."""

from __future__ import annotations


def double(n: int | float) -> int | float:
    """Return ``n * 2``; anything but a number is an error the caller sees."""
    if isinstance(n, bool) or not isinstance(n, int | float):
        raise TypeError(f"double() needs a number, got {n!r}")
    return n * 2


async def greet(name: str) -> str:
    """Return a greeting (an async function: awaited in the caller's task)."""
    return f"Hello, {name}! Welcome to actors."
