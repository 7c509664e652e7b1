"""Blocking code in a worker thread: ``await actors.run_sync_in_thread(fn, *args)``.

A process that calls blocking code on the event loop (a synchronous HTTP client, file or
database driver, ``time.sleep``, a long computation that releases the GIL) stops every other
process of its node, and the watchdog reports it. Running it in a worker thread keeps the loop
free; the process waits for the result as it waits for a message.

trio cannot stop a thread, so a process that is stopped while it waits (terminated, failed by a
link, given a ``Cancel`` it does not trap, or cancelled by a trio scope) does not wait for the
thread: it stops at once and the thread is *abandoned*. It runs on until the function returns;
its result or error is dropped, and both moments are logged. The function may end early by
calling ``trio.from_thread.check_cancelled()``, which raises once its caller has stopped.

Under virtual time (a ``trio.testing.MockClock`` with an autojump threshold, the clock of every
test of the kit), trio sees every task blocked while a thread works and would jump the clock:
timeouts and timers would fire "during" a call that really takes milliseconds. So while a
caller waits for its thread, the clock's autojump is held off (``autojump_threshold`` is raised
to ``HOLD_REAL_LIMIT``, 5 s of real time, and restored when the last such wait ends): the loop
sleeps until the thread returns and the call takes no virtual time. A thread that waits for
the loop itself still gets its jump after those 5 s, with a warning, instead of a hang.
``actors.testing.thread_time`` declares another duration for a run, or lets the clock jump
again (``None``). With any other clock nothing changes.
"""

from __future__ import annotations

import inspect
import logging
import math
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, final

import trio

from . import _lifecycle

if TYPE_CHECKING:
    from ._process import Process

R = TypeVar("R")

# How much virtual time a blocking call takes under an autojump MockClock (actors.testing sets
# it): 0 (the default) or more, or None for "let the autojump run while the thread works".
THREAD_TIME: trio.lowlevel.RunVar[float | None] = trio.lowlevel.RunVar(
    "actors.thread_time", default=0.0
)
HOLD_REAL_LIMIT = 5.0  # seconds of real time a held clock waits for a thread before jumping

logger = logging.getLogger("actors.threads")


@final
class _Call:
    """What the waiting task and the worker thread tell each other about one call."""

    __slots__ = ("abandoned", "done", "function", "pid", "started")

    def __init__(self, pid: object, function: str) -> None:
        self.pid = pid
        self.function = function
        self.started = time.monotonic()
        self.done = False
        self.abandoned = False


@final
class _Hold:
    """The autojump of a run's MockClock, held off while callers wait for their threads.

    Held means the clock's ``autojump_threshold`` is raised to ``HOLD_REAL_LIMIT``: the loop
    then sleeps until a thread returns, and jumps only after that long of real time with every
    task still waiting. That bound is the valve for a thread that waits for something the loop
    does after a virtual delay (an event a sleeping task sets, ``trio.from_thread.run`` of a
    ``trio.sleep``), which would otherwise wait forever; its caller logs a warning.
    """

    __slots__ = ("clock", "count", "saved")

    def __init__(self, clock: trio.abc.Clock) -> None:
        self.clock = clock
        self.count = 0  # callers waiting for a thread
        self.saved = math.inf  # the clock's threshold before the first of them

    def release(self) -> None:
        """One caller stopped waiting; the last one gives the clock its threshold back."""
        self.count -= 1
        clock: Any = self.clock
        if self.count == 0 and clock.autojump_threshold == HOLD_REAL_LIMIT:  # else the test set it
            clock.autojump_threshold = self.saved


_HOLD: trio.lowlevel.RunVar[_Hold | None] = trio.lowlevel.RunVar("actors.hold", default=None)


def _hold_virtual_time() -> tuple[_Hold | None, float]:
    """Hold the autojump off if the run's clock is an autojumping MockClock (see above).

    Returns the hold to release (None: nothing held) and the call's declared virtual duration.
    """
    testing = sys.modules.get("trio.testing")  # no MockClock exists before it is imported
    if testing is None:
        return None, 0.0
    clock: Any = trio.lowlevel.current_clock()
    if not isinstance(clock, testing.MockClock):
        return None, 0.0
    declared = THREAD_TIME.get()
    if declared is None:
        return None, 0.0
    hold = _HOLD.get()
    if hold is not None and hold.count:  # held already
        hold.count += 1
        return hold, declared
    if clock.autojump_threshold >= HOLD_REAL_LIMIT:  # no autojump, or a slow one already
        return None, 0.0
    if hold is None or hold.clock is not clock:
        hold = _Hold(clock)
        _HOLD.set(hold)
    hold.saved = clock.autojump_threshold
    hold.count = 1
    clock.autojump_threshold = HOLD_REAL_LIMIT
    return hold, declared


def _caller() -> Process | None:
    """The process whose task is calling (None from plain trio code)."""
    try:
        frame = trio.lowlevel.current_task().coro.cr_frame
    except (RuntimeError, AttributeError):
        return None
    if frame is None or frame.f_code is not _lifecycle.run_process.__code__:
        return None
    return frame.f_locals.get("proc")  # this thread's own frame: no race


async def run_sync_in_thread(
    fn: Callable[..., R], *args: object, limiter: trio.CapacityLimiter | None = None
) -> R:
    """Run the blocking ``fn(*args)`` in a worker thread; return its result or raise its error.

    The caller waits without holding the event loop: the node's other processes run. Use it
    for any synchronous call that may block for more than a millisecond or so; the loop-stall
    watchdog names the processes that do not.

    If the caller is stopped while it waits (``terminate``, a link, a ``Cancel`` it does not
    trap, a trio cancel scope), it stops at once and the thread is abandoned: trio cannot
    kill a thread, so it runs on until ``fn`` returns, still holding its ``limiter`` token;
    its result or error is discarded. A warning names the abandoned call, an INFO line says
    when it finally returned. ``fn`` may poll ``trio.from_thread.check_cancelled()`` to end
    early. The thread is named ``actors <pid> <function>`` (visible in ``py-spy`` and
    ``threading.enumerate()``).

    Under an autojump ``trio.testing.MockClock`` (virtual time in tests) the call takes no
    virtual time: the clock's autojump is held off while the caller waits, so no timeout or
    timer fires during it. ``actors.testing.thread_time(seconds)`` makes calls take
    ``seconds`` of virtual time instead (the result arrives that much later), or
    ``thread_time(None)`` lets the clock jump while threads work. An abandoned thread holds
    nothing: the clock runs again as soon as its caller stops waiting. A held clock still
    jumps after 5 s of real time with every task waiting (a thread that waits for the loop
    would otherwise hang the test), and the call logs a warning. Other clocks are left alone.

    Args:
        fn: A synchronous function (an ``async def`` function is refused).
        *args: Its positional arguments (use ``functools.partial`` for keywords).
        limiter: How many such threads may run at once; default trio's shared limiter
            (``trio.to_thread.current_default_thread_limiter()``, 40 threads).

    Raises:
        TypeError: If ``fn`` is a coroutine function.
    """
    if _is_async(fn):
        name = getattr(fn, "__qualname__", fn)
        raise TypeError(f"{name} is async: await it directly, not in a thread")
    proc = _caller()
    function = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
    pid = "-" if proc is None else proc.pid
    call = _Call(pid, function)

    def work() -> R:
        try:
            return fn(*args)
        finally:
            call.done = True
            if call.abandoned:
                logger.info(
                    "abandoned blocking call returned pid=%s function=%s after=%.3fs",
                    pid,
                    function,
                    time.monotonic() - call.started,
                )

    hold, declared = _hold_virtual_time()
    held_at = 0.0 if hold is None else trio.current_time()
    try:
        try:
            result = await trio.to_thread.run_sync(
                work,
                abandon_on_cancel=True,
                limiter=limiter,
                thread_name=f"actors {pid} {function}",
            )
        finally:
            if hold is not None:
                hold.release()
        moved = 0.0 if hold is None else trio.current_time() - held_at
        if moved and not getattr(hold.clock if hold else None, "rate", 0):
            logger.warning(
                "virtual time moved during a blocking call pid=%s function=%s by=%.3fs: a held "
                "clock still jumps after %ss of real time with every task waiting (a thread that "
                "waits for the loop needs actors.testing.thread_time(None))",
                pid,
                function,
                moved,
                HOLD_REAL_LIMIT,
            )
        if declared:
            call.done = False  # the caller may still stop waiting for it, as in real life
            await trio.sleep(declared)
        return result
    except BaseException:
        if not call.done:
            call.abandoned = True
            logger.warning(
                "blocking call abandoned pid=%s function=%s: its caller stopped waiting; the "
                "thread runs on until the function returns",
                pid,
                function,
            )
        raise


def _is_async(fn: object) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - an object with an async __call__
    )
