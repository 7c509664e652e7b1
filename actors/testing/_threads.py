"""How long a blocking call takes under virtual time: ``with thread_time("200ms"): ...``.

``actors.run_sync_in_thread`` (and a registry function entry with ``blocking: true``) holds the
autojump of a ``trio.testing.MockClock`` off while its caller waits for the worker thread, so a
blocking call takes no virtual time: no timeout or timer fires "during" a call that really
takes milliseconds. :func:`thread_time` changes that for the current trio run: calls take a
declared virtual duration (to test a slow database against a call timeout), or ``None`` lets
the clock jump while threads work (trio's own behaviour).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

from .._core._threads import THREAD_TIME
from .._time._duration import DurationLike, parse_duration


@contextmanager
def thread_time(duration: DurationLike | None) -> Iterator[None]:
    """Make blocking calls take ``duration`` of virtual time in this trio run, inside the block.

    Under an autojump ``MockClock``, each ``run_sync_in_thread`` call started inside the block
    holds virtual time still while its thread works, then delivers the result ``duration``
    later (a timeout shorter than that fires first and the call is abandoned, as a slow call
    would be in real life). ``None`` lets the autojump run while threads work: timers may fire
    during a call, as with ``trio.to_thread.run_sync``. The default, outside any block, is 0.
    The setting is the run's, not the task's: every process of the run sees it. With another
    clock it changes nothing.

    Args:
        duration (str | int | float | timedelta | None): How long a blocking call takes
            (``"200ms"``, ``0.2``, a timedelta; finite and not negative), or ``None``.

    Raises:
        ValueError: If ``duration`` is not a duration, negative or not finite (the message
            names it).
        RuntimeError: If called outside a trio run.
    """
    seconds = None if duration is None else parse_duration(duration)
    if seconds is not None and not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(
            f"thread_time: duration must be finite and >= 0 seconds or None, got {duration!r}"
        )
    token = THREAD_TIME.set(seconds)
    try:
        yield
    finally:
        THREAD_TIME.reset(token)
