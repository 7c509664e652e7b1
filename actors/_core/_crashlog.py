"""Crash reports that inform and do not flood: one traceback per failure streak.

A process that crashes is reported by the kernel on the ``actors`` logger. A job that fails on
every tick, or a service in a restart loop, crashes the same way again and again; each report
used to carry the whole traceback. Reports are grouped into *streaks*, keyed by the process's
function label (:func:`function_label`), the type of the error's root cause (followed through
``raise ... from``) and the line that raised it:

- the first crash of a streak logs ``process crashed`` at ERROR with the traceback;
- a repeat logs ``process crashed again`` at ERROR, one line with ``failures=`` (the count so
  far) and ``first_failure=`` (the wall time of the first), when the count reaches 10, 100,
  1000... or :data:`REPEAT_INTERVAL` seconds after the streak's last line; the repeats in
  between are counted and logged at DEBUG only;
- the first clean return of a process with the same label ends its streaks and logs
  ``process recovered`` at INFO with the count and the first failure's time (a supervisor or
  service manager reports a long-running process's recovery with :meth:`CrashLog.recovered`).

At most :data:`MAX_STREAKS` failing functions, each with at most :data:`MAX_KINDS` distinct
errors, are remembered (the oldest is forgotten first). Every error exit
is counted in :meth:`CrashLog.statistics`, whatever was logged, for the metrics.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Final, TypeVar, final

import attrs
import trio

logger = logging.getLogger("actors")

REPEAT_INTERVAL: Final = 60.0
"""Seconds after which a failing streak logs its next one-line summary, whatever the count."""
MAX_STREAKS: Final = 1024
"""Failing functions remembered at once per node (the oldest is forgotten first)."""
MAX_KINDS: Final = 32
"""Distinct errors (root cause type and line) remembered per failing function."""
_LABEL: Final = "__actors_label__"

F = TypeVar("F")


def function_label(fn: object) -> str:
    """The name logs and ``ps`` give a process function: its label, else ``module.qualname``."""
    label = getattr(fn, _LABEL, None)
    if isinstance(label, str):
        return label
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', fn)}"


def set_label(fn: F, label: str) -> F:
    """Give ``fn`` (a wrapper made for one purpose, e.g. a job's closure) a display label.

    Crash reports, their streaks and ``ps`` name the process by it: the user's function or
    registry entry instead of the runtime's wrapper (``spawn_main.<locals>.job``).
    """
    setattr(fn, _LABEL, label)
    return fn


@attrs.frozen
class CrashStatistics:
    """Counters of a node's crash reports (see :meth:`CrashLog.statistics`)."""

    crashes: int
    """Processes that ended with an error (crashed, terminated, failed through a link)."""
    logged: int
    """Crash reports logged at ERROR: first failures with a traceback, and summary lines."""
    folded: int
    """Repeats counted into a streak's next summary instead of being logged."""
    streaks: int
    """Functions failing now (a streak ends at their first clean return)."""


@final
@attrs.define(eq=False)
class _Streak:
    first_at: datetime
    failures: int = 1
    last_line: float = 0.0


def _key(error: BaseException) -> tuple[str, str, int]:
    """What makes two crashes "the same": the root cause's type and the line that raised it.

    The root cause is followed through ``raise ... from`` (a wrapper such as the registry's
    ``FunctionCallError`` is raised at one place for every function it wraps).
    """
    for _ in range(16):  # bounded: a cause chain can be long, or (by hand) a cycle
        if error.__cause__ is None:
            break
        error = error.__cause__
    kind = type(error)
    return (f"{kind.__module__}.{kind.__qualname__}", *_origin(error))


def _origin(error: BaseException) -> tuple[str, int]:
    """The file and line the error was raised at (the innermost frame of its traceback)."""
    tb = error.__traceback__
    if tb is None:
        return ("?", 0)
    while tb.tb_next is not None:
        tb = tb.tb_next
    return (tb.tb_frame.f_code.co_filename, tb.tb_lineno)


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


@final
class CrashLog:
    """The crash reports of one node: streaks and counters (see the module docstring)."""

    __slots__ = ("_anchor", "_crashes", "_folded", "_logged", "_streaks")

    def __init__(self, anchor: tuple[datetime, float]) -> None:
        self._anchor = anchor  # (wall time, trio time) read together: the node's wall clock
        self._streaks: dict[str, dict[tuple[str, str, int], _Streak]] = {}
        self._crashes = 0
        self._logged = 0
        self._folded = 0

    def __bool__(self) -> bool:
        return bool(self._streaks)

    def _wall(self) -> datetime:
        wall, mono = self._anchor
        return wall + timedelta(seconds=trio.current_time() - mono)

    def count(self) -> None:
        """Count an error exit that is reported elsewhere (terminated, failed through a link)."""
        self._crashes += 1

    def crashed(self, pid: object, fn: object, error: BaseException) -> None:
        """Report the crash of process ``pid`` running ``fn`` with ``error``: a traceback, a
        summary line, or a count."""
        self._crashes += 1
        label = function_label(fn)
        key = _key(error)
        streaks = self._streaks.get(label)
        streak = None if streaks is None else streaks.get(key)
        now = trio.current_time()
        if streak is None:
            if streaks is None:
                if len(self._streaks) >= MAX_STREAKS:
                    del self._streaks[next(iter(self._streaks))]
                streaks = self._streaks[label] = {}
            elif len(streaks) >= MAX_KINDS:
                del streaks[next(iter(streaks))]
            streaks[key] = _Streak(self._wall(), last_line=now)
            self._logged += 1
            logger.error(
                "process crashed pid=%s function=%s error=%r",
                pid,
                label,
                error,
                exc_info=error,
            )
            return
        streak.failures += 1
        count = streak.failures
        if now - streak.last_line >= REPEAT_INTERVAL or _is_power_of_ten(count):
            streak.last_line = now
            self._logged += 1
            logger.error(
                "process crashed again pid=%s function=%s error=%r failures=%d first_failure=%s",
                pid,
                label,
                error,
                count,
                _iso(streak.first_at),
            )
            return
        self._folded += 1
        logger.debug(
            "process crashed again pid=%s function=%s error=%r failures=%d",
            pid,
            label,
            error,
            count,
        )

    def returned(self, pid: object, fn: object) -> None:
        """Process ``pid`` running ``fn`` returned cleanly: end its label's streaks."""
        self.recovered(function_label(fn), pid)

    def recovered(self, label: str, pid: object = "-") -> None:
        """End the failure streaks of ``label`` and log ``process recovered`` if it had any."""
        streaks = self._streaks.pop(label, None)
        if not streaks:
            return
        failures = sum(streak.failures for streak in streaks.values())
        first = min(streak.first_at for streak in streaks.values())
        logger.info(
            "process recovered pid=%s function=%s failures=%d first_failure=%s",
            pid,
            label,
            failures,
            _iso(first),
        )

    def statistics(self) -> CrashStatistics:
        """The counters since the node opened."""
        return CrashStatistics(self._crashes, self._logged, self._folded, len(self._streaks))


def _is_power_of_ten(count: int) -> bool:
    while count >= 10 and count % 10 == 0:
        count //= 10
    return count == 1


def crash_log(node: object) -> CrashLog:
    """The crash log of ``node`` (an ``actors.Node``), made on first use."""
    attributes = vars(node)
    found: CrashLog | None = attributes.get("_crash_log")
    if found is None:
        found = attributes["_crash_log"] = CrashLog(attributes["_wall_anchor"])
    return found
