"""Start-up repair of a cron data folder, in steps that never hold the event loop.

:meth:`JobStore.recover` repairs what a crash can leave (the argument is in
``docs/semantics.md``, "Durable cron"). With a backlog of 100,000 trigger files
that means reading 100,000 files: seconds of work that, done in one go on the
event loop, would stall every other process of the node. So the repair is written
once, as a generator of steps (:func:`recovery_steps`), and run two ways:

- :func:`run_steps` runs it through, synchronously (``JobStore.recover``, the
  command line);
- :func:`run_steps_async` yields to trio between steps (``JobStore.recover_async``,
  the cron service), so no step holds the loop for much more than ``STEP_BUDGET``
  seconds of work, and a job lock held by another program is waited for with
  ``trio.sleep``, never ``time.sleep``.

The generator yields the seconds to wait before the next step: 0 after a step
that used up its budget, a short poll interval while a job's lock is held. Every
step leaves the folder consistent (each repair is one atomic write or unlink under
the job's lock), so a cancelled recovery is simply run again at the next start.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import time
from collections.abc import Generator
from pathlib import Path
from typing import Literal, Protocol, TypeVar

import attrs
import trio

from ._atomicfs import (
    break_if_stale,
    fsync_dir,
    is_temp_file,
    is_temp_name,
    remove_stale_temp,
)
from ._job import ID_RE
from ._triggerfiles import MalformedTrigger, parse_trigger

__all__ = [
    "STEP_BUDGET",
    "Pace",
    "Recovery",
    "Steps",
    "listing",
    "recovery_steps",
    "run_steps",
    "run_steps_async",
]

STEP_BUDGET = 0.005
"""Seconds of work after which a recovery step ends and lets other tasks run."""

_LOCK_POLL = 0.01
_LOCK_TIMEOUT = 5.0

_T = TypeVar("_T")

Steps = Generator[float, None, _T]
"""Work in steps: yields the seconds to wait before the next step, returns the result."""

Repair = Literal["rolled", "removed"] | None
"""What repairing one job did: rolled ``last_fired_at`` forward, removed it, or nothing."""


@attrs.frozen
class Recovery:
    """What :meth:`JobStore.recover` repaired."""

    removed_files: tuple[Path, ...]
    """Temp and lock files left by crashed writers."""
    rolled_forward: tuple[str, ...]
    """Jobs whose pending trigger was written but ``last_fired_at`` was not."""
    removed_oneshots: tuple[str, ...]
    """Oneshot jobs whose trigger was delivered but which were not yet deleted."""


class _Store(Protocol):
    """What the recovery needs of a :class:`JobStore`."""

    @property
    def jobs_dir(self) -> Path: ...

    @property
    def triggers_dir(self) -> Path: ...

    def _repair_nowait(self, job_id: str, pending: bool, latest: dt.datetime | None) -> Repair: ...


class Pace:
    """Ends a step once it did ``STEP_BUDGET`` seconds of work (wall time)."""

    def __init__(self) -> None:
        self.began = time.perf_counter()

    def step(self) -> Generator[float, None, None]:
        """Yield 0 (end the step) if the budget is spent."""
        if time.perf_counter() - self.began >= STEP_BUDGET:
            yield 0.0
            self.began = time.perf_counter()

    def wait(self, seconds: float) -> Generator[float, None, None]:
        """End the step and wait ``seconds`` before the next."""
        yield seconds
        self.began = time.perf_counter()


def recovery_steps(store: _Store, *, older_than: float) -> Steps[Recovery]:
    """Repair a data folder in steps; see :meth:`JobStore.recover` for what is repaired.

    Args:
        store (_Store): The job store (its folders and ``_repair_nowait``).
        older_than (float): Seconds after which a temp or lock file is abandoned.

    Returns:
        Steps[Recovery]: A generator; run it with :func:`run_steps` or
        :func:`run_steps_async`.
    """
    pace = Pace()
    now = time.time()
    removed: list[Path] = []
    names: dict[Path, list[str]] = {}
    for directory in (store.jobs_dir, store.triggers_dir):
        temps: list[Path] = []
        names[directory] = yield from listing(directory, temps, pace)
        before = len(removed)
        for path in temps:
            if remove_stale_temp(path, now, older_than):
                removed.append(path)
            yield from pace.step()
        if len(removed) > before:
            fsync_dir(directory)
    for name in names[store.jobs_dir]:
        if name.startswith(".") and name.endswith(".lock"):
            if break_if_stale(lock := store.jobs_dir / name, older_than):
                removed.append(lock)
            yield from pace.step()
    pending: set[str] = set()
    latest: dict[str, dt.datetime] = {}
    for name in names[store.triggers_dir]:
        if is_temp_name(name):
            continue
        try:
            trigger = parse_trigger(store.triggers_dir / name)
        except (MalformedTrigger, FileNotFoundError):
            trigger = None  # the drain quarantines it; or delivered meanwhile
        if trigger is not None and trigger.job_id is not None and ID_RE.fullmatch(trigger.job_id):
            pending.add(trigger.job_id)
            if (when := trigger.scheduled_for) is not None:
                latest[trigger.job_id] = max(when, latest.get(trigger.job_id, when))
        yield from pace.step()
    rolled: list[str] = []
    deleted: list[str] = []
    jobs = sorted(n[:-5] for n in names[store.jobs_dir] if not is_temp_name(n))
    for job_id in jobs:
        if ID_RE.fullmatch(job_id) is None:
            continue  # not a job file we wrote: list() reports it
        done = yield from _repair(store, job_id, job_id in pending, latest.get(job_id), pace)
        if done == "rolled":
            rolled.append(job_id)
        elif done == "removed":
            deleted.append(job_id)
        yield from pace.step()
    return Recovery(tuple(removed), tuple(rolled), tuple(deleted))


def listing(directory: Path, temps: list[Path], pace: Pace) -> Steps[list[str]]:
    """Names in ``directory`` (temp files go to ``temps``), read in steps.

    Args:
        directory (Path): The folder to list.
        temps (list[Path]): Receives the writers' temp files (``.*.tmp``).
        pace (Pace): Ends a step when its budget is spent.

    Returns:
        Steps[list[str]]: The other names, in no order.
    """
    names: list[str] = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if is_temp_file(entry):
                temps.append(Path(entry.path))
            else:
                names.append(entry.name)
            yield from pace.step()
    return names


def _repair(
    store: _Store, job_id: str, pending: bool, latest: dt.datetime | None, pace: Pace
) -> Generator[float, None, Repair]:
    """Repair one job, waiting in steps while another program holds its lock."""
    for _ in range(math.ceil(_LOCK_TIMEOUT / _LOCK_POLL)):
        try:
            return store._repair_nowait(job_id, pending, latest)
        except BlockingIOError:
            yield from pace.wait(_LOCK_POLL)
    lock = store.jobs_dir / f".{job_id}.lock"
    raise TimeoutError(f"lock {str(lock)!r} held for over {_LOCK_TIMEOUT:g} s")


def run_steps(steps: Steps[_T]) -> _T:
    """Run work in steps through, sleeping (``time.sleep``) while a job's lock is held.

    Args:
        steps (Steps[T]): From :func:`recovery_steps`, for example.

    Returns:
        T: What the steps returned.
    """
    try:
        while True:
            delay = next(steps)
            if delay > 0:
                time.sleep(delay)
    except StopIteration as done:
        result: _T = done.value
        return result


async def run_steps_async(steps: Steps[_T]) -> _T:
    """Run work in steps, yielding to trio between steps; cancelling it stops between steps.

    Args:
        steps (Steps[T]): From :func:`recovery_steps`, for example.

    Returns:
        T: What the steps returned.
    """
    try:
        while True:
            try:
                delay = next(steps)
            except StopIteration as done:
                result: _T = done.value
                return result
            if delay > 0:
                await trio.sleep(delay)
            else:
                await trio.lowlevel.checkpoint()
    finally:
        steps.close()
