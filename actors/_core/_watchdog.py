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
import traceback
from datetime import UTC, datetime, timedelta
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any, final

import attrs
import trio

from . import _lifecycle
from ._messages import Stall

if TYPE_CHECKING:
    from ._node import Node
    from ._process import Process

logger = logging.getLogger("actors.watchdog")

_MAX_FRAMES = 10_000  # deeper than any recursion limit in practice: a bound, not a feature
_MAX_QUIET_KEYS = 1000  # functions remembered for quiet_period (cleared when exceeded)
_KNOWN_TASKS = 16  # tasks remembered by their outermost frame (cleared when exceeded)


@final
@attrs.frozen
class WatchdogPolicy:
    """The loop-stall watchdog of a node (``open_node(watchdog=...)``).

    The default, ``WatchdogPolicy()``, reports every time the loop is held for more than
    100 ms. Pass ``watchdog=None`` to turn it off. See docs/semantics.md.
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


def _private_trio() -> CodeType | None:
    """The code of trio's run loop, or None if this trio is not the one the watchdog knows."""
    try:
        from trio._core import _run

        code = _run.unrolled_run.__code__
        task_type = _run.Task
        _run.GLOBAL_RUN_CONTEXT  # noqa: B018 - it must exist
    except (ImportError, AttributeError):
        return None
    if not hasattr(task_type, "_schedule_points") or "tasks" not in _run.Runner.__annotations__:
        return None
    return code


def _current_runner() -> Any:
    """trio's runner of the calling thread's run (private: it holds the set of tasks)."""
    from trio._core import _run

    return _run.GLOBAL_RUN_CONTEXT.runner


def _points(task: object) -> int:
    """Steps ``task`` has finished so far (-2: no task)."""
    return -2 if task is None else getattr(task, "_schedule_points", -2)


@final
class _Loop:
    """One trio run with watched nodes, as the sampling thread sees it."""

    def __init__(self, thread_id: int, runner: Any) -> None:
        self.thread_id = thread_id
        self.runner = runner
        self.nodes: dict[Node, WatchdogPolicy] = {}
        self.threshold = math.inf
        # Sampling state (the watchdog thread only). Frame locals are never read from here:
        # on CPython < 3.13 that can race with a trace function writing them back.
        self.frame: FrameType | None = None  # the stepped task's outermost frame, last sample
        self.task: object = None  # its task, looked up once it was seen twice in a row
        self.points = -2
        self.known: dict[int, Any] = {}  # id(outermost frame) -> task, the last few found
        self.first_seen = 0.0
        self.culprit: tuple[Process | None, str, str] | None = None  # set once reported
        self.began = datetime.now(UTC)

    def sample(self, top: FrameType | None, now: float, dog: _Watchdog) -> None:
        """Look at the loop thread's stack (``top``: its innermost frame) at time ``now``."""
        outer = _outermost(top, dog.run_loop_code)
        if outer is None or outer is not self.frame:
            if self.culprit is not None:
                self._ended(now - self.first_seen)
            self.frame, self.task, self.points = outer, None, -2
            return
        if self.task is None:
            # The same task twice in a row (rare in a busy loop of many processes): which
            # task, and how many steps it has finished. The few tasks found last are kept, so
            # two busy processes among 100,000 idle ones do not cost a pass each time.
            task = self.known.get(id(outer))
            if task is None or getattr(task.coro, "cr_frame", None) is not outer:
                task = _task_of(self.runner, outer)
                if len(self.known) >= _KNOWN_TASKS:
                    self.known.clear()
                if task is not None:
                    self.known[id(outer)] = task
            self.task = task or _UNKNOWN
            self.points, self.first_seen = _points(self.task), now
            return
        points = _points(self.task)
        if points != self.points:  # the same task in a later step
            if self.culprit is not None:
                self._ended(now - self.first_seen)
            self.points, self.first_seen = points, now
        elif self.culprit is None and points >= 0 and now - self.first_seen >= self.threshold:
            self.culprit = _describe(outer, self.task, self.nodes)
            self.began = datetime.now(UTC) - timedelta(seconds=now - self.first_seen)
            dog.report(self, now - self.first_seen, top, outer)

    def _ended(self, duration: float) -> None:
        assert self.culprit is not None
        proc, name, function = self.culprit
        self.culprit = None
        pid = None if proc is None else proc.pid
        stall = Stall(duration, pid, name or None, function, self.began)
        for node, policy in list(self.nodes.items()):
            if duration >= policy.threshold:
                node._stalls.add(stall)
        logger.debug(
            "loop stall over duration=%.3fs pid=%s function=%s", duration, stall.pid, function
        )

    def settle(self, *, force: bool) -> None:
        """End a reported stall that the thread has not yet seen end (called from the run:
        the stalled step is over unless it is the caller; ``force`` ends it anyway)."""
        if self.culprit is None:
            return
        task = trio.lowlevel.current_task()
        if not force and task is self.task and _points(task) == self.points:
            return  # the stalled step itself asks: it is not over
        self._ended(time.monotonic() - self.first_seen)
        self.frame, self.task, self.points = None, None, -2

    def forget(self) -> None:
        """Drop the sampled frame and task (its node closed): the thread keeps nothing alive."""
        self.frame = self.task = self.culprit = self.runner = None
        self.known.clear()


_UNKNOWN = object()
"""A task the lookup did not find (it ended meanwhile): never a stall."""


def _outermost(frame: FrameType | None, run_loop: CodeType | None) -> FrameType | None:
    """The outermost frame of the task trio is stepping in the thread whose innermost frame is
    ``frame`` (None: it waits for I/O or is between steps)."""
    child = None
    for _ in range(_MAX_FRAMES):
        if frame is None:
            return None
        if frame.f_code is run_loop:
            return child
        child, frame = frame, frame.f_back
    return None


def _task_of(runner: Any, outermost: FrameType) -> object:
    """The task whose coroutine's frame is ``outermost`` (one pass over the run's tasks)."""
    for task in list(runner.tasks):  # copied in one step: the loop may add tasks meanwhile
        if getattr(task.coro, "cr_frame", None) is outermost:
            return task
    return None


def _describe(
    outermost: FrameType, task: object, nodes: dict[Node, WatchdogPolicy]
) -> tuple[Process | None, str, str]:
    """The process (or, for plain trio code, the coroutine) of ``task``."""
    if outermost.f_code is _lifecycle.run_process.__code__:
        for node in list(nodes):
            for proc in list(node._procs.values()):
                if proc._task is task:
                    return proc, (proc._names or [""])[0], _lifecycle.function_name(proc)
    code = outermost.f_code
    return None, "", f"{outermost.f_globals.get('__name__', '?')}.{code.co_qualname}"


def _stack(top: FrameType | None, outermost: FrameType | None) -> traceback.StackSummary:
    """The frames from ``outermost`` to ``top`` (most recent call last), taken now; their
    source lines are read when the summary is formatted. The kernel's ``run_process`` frame is
    left out: the process function comes first."""
    frames: list[FrameType] = []
    frame = top
    while frame is not None and len(frames) < _MAX_FRAMES:
        if frame is outermost:
            if frame.f_code is not _lifecycle.run_process.__code__ or not frames:
                frames.append(frame)
            break
        frames.append(frame)
        frame = frame.f_back
    frames.reverse()
    return traceback.StackSummary.extract(((f, f.f_lineno) for f in frames), lookup_lines=False)


def _format(stack: traceback.StackSummary) -> str:
    try:
        return "".join(stack.format()).rstrip()
    except Exception as error:  # introspection must never stop the watchdog
        return f"  (stack unavailable: {error!r})"


@final
class _Watchdog:
    """The interpreter's one sampling thread and the trio runs it watches."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loops: dict[object, _Loop] = {}  # by trio token
        self.thread: threading.Thread | None = None
        self.stop: threading.Lock | None = None
        self.interval = 0.025
        self.run_loop_code = _private_trio()
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
                loop = self.loops[token] = _Loop(threading.get_ident(), _current_runner())
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
        with self.lock:
            for token, loop in list(self.loops.items()):
                if node not in loop.nodes:
                    continue
                loop.settle(force=True)  # a stall seen and over: counted before the node goes
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
        if thread is not None:
            thread.join(timeout=5.0)  # it wakes at once: at most one sample in progress

    def settle(self, node: Node) -> None:
        """Count a stall of ``node``'s run that is over but not sampled since (from the run:
        a stall seen by the thread has ended once its run does anything else)."""
        with self.lock:
            for loop in self.loops.values():
                if node in loop.nodes:
                    loop.settle(force=False)

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
            # Outside the lock: reading source files or a slow handler holds up no node.
            for *args, stack in pending:
                logger.warning(_REPORT, *args, _format(stack))

    def report(
        self, loop: _Loop, held: float, top: FrameType | None, outermost: FrameType | None
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
                _stack(top, outermost),
            )
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
