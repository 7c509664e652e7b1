"""What the loop-stall watchdog reads of a trio run: the loop thread's stack, the task being
stepped and its process. Everything here runs in the watchdog's thread under its lock, except
``LoopScan.settle`` (called from the run). See ``_watchdog`` for the design.
"""

from __future__ import annotations

import math
import time
import traceback
from datetime import UTC, datetime, timedelta
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any, Protocol, final

import trio

from . import _lifecycle
from ._messages import Stall

if TYPE_CHECKING:
    from ._node import Node
    from ._process import Process
    from ._watchdog import WatchdogPolicy

_MAX_FRAMES = 10_000  # deeper than any recursion limit in practice: a bound, not a feature
_KNOWN_TASKS = 16  # tasks remembered by their outermost frame (cleared when exceeded)


class Reporter(Protocol):
    """Where a scan reports a stall that has just crossed its threshold (the watchdog)."""

    run_loop_code: CodeType | None
    """trio's run loop code (``private_trio()``)."""

    def report(
        self, loop: LoopScan, held: float, top: FrameType | None, outermost: FrameType | None
    ) -> None: ...


def private_trio() -> CodeType | None:
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


def current_runner() -> Any:
    """trio's runner of the calling thread's run (private: it holds the set of tasks)."""
    from trio._core import _run

    return _run.GLOBAL_RUN_CONTEXT.runner


def _points(task: object) -> int:
    """Steps ``task`` has finished so far (-2: no task)."""
    return -2 if task is None else getattr(task, "_schedule_points", -2)


@final
class LoopScan:
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
        self.over: list[Stall] = []

    def sample(self, top: FrameType | None, now: float, dog: Reporter) -> None:
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
        self.over.append(stall)  # logged (DEBUG) once the watchdog's lock is released

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


def stack_of(top: FrameType | None, outermost: FrameType | None) -> traceback.StackSummary:
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


def format_stack(stack: traceback.StackSummary) -> str:
    try:
        return "".join(stack.format()).rstrip()
    except Exception as error:  # introspection must never stop the watchdog
        return f"  (stack unavailable: {error!r})"
