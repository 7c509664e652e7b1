"""The loop-stall watchdog: a thread that names whoever holds the event loop too long.

Python cannot preempt a task: a process that calls blocking code (``time.sleep``, a
synchronous HTTP client, a long computation) stops every other process of its trio run until
it returns. The watchdog makes that visible: it logs the process that held the loop, with its
stack, once per stall, and counts stalls in ``node.statistics()``.

How it sees a stall without touching the hot path: one daemon thread per interpreter
(``actors-watchdog``, started by the first node that opens with a ``WatchdogPolicy``, stopped
and joined when the last one closes) samples, every quarter of the smallest threshold, the
stack of every trio run that has such a node open (``sys._current_frames()``). trio steps a
task from its run loop, ``unrolled_run``: the frame just inside that one is the outermost
frame of the task being stepped (a loop waiting for I/O has none). When two samples in a row
show the same task frame, the task is looked up once (a pass over the run's tasks) and its
``_schedule_points`` read: trio adds one at the end of every step, so the same count
``threshold`` later is one step that has held the loop that long. Frame locals are never read
from the thread (on CPython < 3.13 that races with a trace function writing them back).
Nothing runs in the loop for this: no instrument, no hook per step or per scheduling round.
It reads three private details of trio (``unrolled_run``'s code, ``Runner.tasks``,
``Task._schedule_points``), pinned by tests/core/test_watchdog.py; if a trio release changes
them the watchdog logs one warning and stays off.

What it cannot see: a stall spent inside one C call that holds the GIL throughout (a long
garbage collection, a huge regular expression): the sampling thread cannot run until it is
over. A step is timed from the second sample that saw it, so a stall is reported only when
it really held the loop for ``threshold`` (never a false alarm), one longer than 1.5
thresholds is always seen, and durations are short by up to two sampling periods.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Any, final

import attrs
import trio

from ._loopscan import LoopScan, current_runner, format_stack, private_trio, stack_of
from ._messages import Stall

if TYPE_CHECKING:
    from ._node import Node

logger = logging.getLogger("actors.watchdog")

_MAX_QUIET_KEYS = 1000  # functions remembered for quiet_period (cleared when exceeded)


@final
@attrs.frozen
class WatchdogPolicy:
    """The loop-stall watchdog of a node (``open_node(watchdog=...)``).

    The default, ``WatchdogPolicy()``, reports every time the loop is held for more than
    100 ms. Pass ``watchdog=None`` to turn it off. See docs/semantics.md.

    Raises:
        ValueError: If a field is out of range or of the wrong type; the message names the field and
            the value.
    """

    threshold: float = 0.1
    """Seconds one task step may hold the loop before it is a stall (1 ms to 1 hour)."""
    quiet_period: float = 10.0
    """After a stall of a function is logged, more stalls of the same function within this
    many seconds are counted but not logged (the next line says how many were not); 0 logs
    every stall."""

    def __attrs_post_init__(self) -> None:
        threshold = self.threshold
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise ValueError(f"WatchdogPolicy.threshold must be a number, got {threshold!r}")
        if not 0.001 <= threshold <= 3600:
            raise ValueError(
                f"WatchdogPolicy.threshold must be in [0.001, 3600] seconds, got {threshold!r}"
            )
        quiet = self.quiet_period
        if isinstance(quiet, bool) or not isinstance(quiet, int | float):
            raise ValueError(f"WatchdogPolicy.quiet_period must be a number, got {quiet!r}")
        if not (math.isfinite(quiet) and quiet >= 0):
            raise ValueError(f"WatchdogPolicy.quiet_period must be >= 0 seconds, got {quiet!r}")


def check_watchdog_option(value: object) -> WatchdogPolicy | None:
    """Validate ``open_node(watchdog=...)``: a ``WatchdogPolicy`` or None."""
    if value is None or type(value) is WatchdogPolicy:
        return value
    raise ValueError(f"watchdog must be an actors.WatchdogPolicy or None, got {value!r}")


@final
class StallCounters:
    """A node's stall counters: written by the watchdog thread, read by ``statistics()``.

    One tuple, replaced whole, so a reader never sees a count without its stall.
    """

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: tuple[int, float, Stall | None] = (0, 0.0, None)

    def add(self, stall: Stall) -> None:
        count, longest, _ = self.value
        self.value = (count + 1, max(longest, stall.duration), stall)


@final
class _Watchdog:
    """The interpreter's one sampling thread and the trio runs it watches."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loops: dict[object, LoopScan] = {}  # by trio token
        self.thread: threading.Thread | None = None
        self.stop: threading.Lock | None = None
        self.interval = 0.025
        self.run_loop_code = private_trio()
        self.warned = False
        self.quiet: dict[str, tuple[float, int]] = {}  # function -> (last logged, not logged)
        self.samples = 0
        self.pending: list[tuple[Any, ...]] = []  # log lines to write after the lock

    def add(self, node: Node, policy: WatchdogPolicy) -> bool:
        """Watch ``node`` (from its run); False if this trio is not one it can watch."""
        if self.run_loop_code is None:
            if not self.warned:
                self.warned = True
                logger.warning(
                    "loop-stall watchdog off: this trio (%s) is not one it knows", trio.__version__
                )
            return False
        token = trio.lowlevel.current_trio_token()
        with self.lock:
            loop = self.loops.get(token)
            if loop is None:
                loop = self.loops[token] = LoopScan(threading.get_ident(), current_runner())
            loop.nodes[node] = policy
            loop.threshold = min(p.threshold for p in loop.nodes.values())
            self.interval = min(lp.threshold for lp in self.loops.values()) / 4
            if self.thread is None:
                self.stop = threading.Lock()  # held until the thread should stop
                self.stop.acquire()
                self.thread = threading.Thread(
                    target=self.run, args=(self.stop,), name="actors-watchdog", daemon=True
                )
                self.thread.start()
        return True

    def remove(self, node: Node) -> None:
        thread = None
        over: list[Stall] = []
        with self.lock:
            for token, loop in list(self.loops.items()):
                if node not in loop.nodes:
                    continue
                loop.settle(force=True)  # a stall seen and over: counted before the node goes
                over += loop.over
                loop.over.clear()
                del loop.nodes[node]
                if loop.nodes:
                    loop.threshold = min(p.threshold for p in loop.nodes.values())
                else:
                    loop.forget()
                    del self.loops[token]
            if self.loops:
                self.interval = min(lp.threshold for lp in self.loops.values()) / 4
            elif self.thread is not None:
                assert self.stop is not None
                self.stop.release()
                thread, self.thread, self.stop = self.thread, None, None
                self.quiet.clear()
        _log_over(over)
        if thread is not None:
            thread.join(timeout=5.0)  # it wakes at once: at most one sample in progress

    def settle(self, node: Node) -> None:
        """Count a stall of ``node``'s run that is over but not sampled since (from the run:
        a stall seen by the thread has ended once its run does anything else)."""
        over: list[Stall] = []
        with self.lock:
            for loop in self.loops.values():
                if node in loop.nodes:
                    loop.settle(force=False)
                    over += loop.over
                    loop.over.clear()
        _log_over(over)

    def run(self, stop: threading.Lock) -> None:
        """The thread: sample every loop each interval until ``stop`` is released.

        (Waiting on a lock costs a third less CPU per wake-up than ``Event.wait``.)
        """
        while not stop.acquire(timeout=self.interval):
            with self.lock:
                frames = sys._current_frames()
                now = time.monotonic()
                self.samples += 1
                for loop in self.loops.values():
                    try:
                        loop.sample(frames.get(loop.thread_id), now, self)
                    except Exception:  # never let one bad sample end the watchdog
                        logger.exception("loop-stall watchdog sample failed")
                del frames
                pending, self.pending = self.pending, []
                over: list[Stall] = []
                for loop in self.loops.values():
                    over += loop.over
                    loop.over.clear()
            # Outside the lock: reading source files or a slow handler holds up no node.
            for *args, stack in pending:
                logger.warning(_REPORT, *args, format_stack(stack))
            _log_over(over)

    def report(
        self, loop: LoopScan, held: float, top: FrameType | None, outermost: FrameType | None
    ) -> None:
        """Queue the log line of a stall that just crossed ``loop``'s threshold (once per
        stall; a function logged less than ``quiet_period`` ago is only counted)."""
        assert loop.culprit is not None
        proc, name, function = loop.culprit
        now = time.monotonic()
        last, not_logged = self.quiet.get(function, (-math.inf, 0))
        if now - last < min(p.quiet_period for p in loop.nodes.values()):
            self.quiet[function] = (last, not_logged + 1)
            return
        if len(self.quiet) >= _MAX_QUIET_KEYS:
            self.quiet.clear()
        self.quiet[function] = (now, 0)
        self.pending.append(
            (
                "-" if proc is None else proc.pid,
                name or "-",
                function,
                held,
                loop.threshold,
                f" not_logged={not_logged}" if not_logged else "",
                stack_of(top, outermost),
            )
        )


def _log_over(stalls: list[Stall]) -> None:
    for stall in stalls:
        logger.debug(
            "loop stall over duration=%.3fs pid=%s function=%s",
            stall.duration,
            "-" if stall.pid is None else stall.pid,
            stall.function,
        )


_REPORT = (
    "loop stalled pid=%s name=%s function=%s held=%.3fs threshold=%gs%s (a process running "
    "blocking code stops every process of its node; await actors.run_sync_in_thread(fn, ...) "
    "runs it in a worker thread)\n%s"
)

WATCHDOG = _Watchdog()
"""The interpreter's watchdog (one thread for every trio run with a watched node)."""


def watch(node: Node, policy: WatchdogPolicy | None) -> None:
    """Start watching ``node``'s trio run (no-op for ``None``). Call it from the run."""
    if policy is not None and not WATCHDOG.add(node, policy):
        node.watchdog = None  # off: statistics() and ps say so


def settle(node: Node) -> None:
    """Count a stall of ``node``'s trio run that has ended (``statistics()`` calls it)."""
    if node.watchdog is not None:
        WATCHDOG.settle(node)


def unwatch(node: Node) -> None:
    """Stop watching ``node``; the last watched node stops and joins the thread."""
    WATCHDOG.remove(node)
