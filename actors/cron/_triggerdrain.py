"""Delivering trigger files: one drain pass, and the watcher that repeats it.

A pass lists ``triggers/`` and goes through the files in name (fire) order:
parse, deliver, and remove the file only after delivery succeeded. A backlog
of any size never holds the event loop: the listing reads the folder in
chunks with a checkpoint between them, the files come off a heap one at a
time (no sort of the whole backlog), and a checkpoint separates any two
files. A file held behind a failed one is read once; later passes skip it
by its remembered target without touching the disk. A failed
delivery is retried in-process with exponential backoff; while a file waits
for its retry, later files for the *same target* wait too (so each target
sees its triggers in order) but other targets are not held up. Malformed
files are quarantined, never retried.

The watcher runs a pass at once, then again every ``poll_interval`` seconds,
when a retry is due, or when woken (the cron service wakes it after a fire).
Each pass re-lists the folder, so a file dropped at any moment, even in the
middle of the startup pass, is delivered by the next one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import heapq
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import attrs
import trio

from ._atomicfs import is_temp_name, write_atomic
from ._deadletters import dead_letter
from ._triggerfiles import (
    MalformedTrigger,
    Trigger,
    complete,
    encode_trigger,
    parse_trigger,
    quarantine,
)

__all__ = ["Deliver", "DeliveryLedger", "RetryPolicy", "Wakeup", "drain", "watch_triggers"]

Deliver = Callable[[Trigger], Awaitable[object]]
"""Delivery callback: returns once the trigger is handed over; raises to retry."""

_log = logging.getLogger("actors.cron")


@attrs.frozen
class RetryPolicy:
    """Retry of failed deliveries: exponential backoff, then a dead letter after
    ``max_attempts`` attempts (0: retry forever)."""

    initial_delay: float = 0.5
    """Seconds before the second attempt."""
    factor: float = 2.0
    """Multiplier applied to the delay after each failure."""
    max_delay: float = 10.0
    """Upper bound on one delay, in seconds."""
    max_attempts: int = 20
    """Attempts before the trigger becomes a dead letter (about 3 minutes with the
    defaults); 0 retries forever."""

    def __attrs_post_init__(self) -> None:
        if type(self.max_attempts) is not int or not 0 <= self.max_attempts <= 1_000_000:
            raise ValueError(
                f"retry max_attempts must be an integer in 0..1000000, got {self.max_attempts!r}"
            )
        if not (0 < self.initial_delay <= self.max_delay) or not self.factor >= 1:
            raise ValueError(
                "retry needs 0 < initial_delay <= max_delay and factor >= 1, got "
                f"initial_delay={self.initial_delay!r} max_delay={self.max_delay!r} "
                f"factor={self.factor!r}"
            )

    def delay(self, failures: int) -> float:
        """Return the seconds to wait after ``failures`` consecutive failures (>= 1).

        Args:
            failures (int): Consecutive failed attempts so far, >= 1.

        Returns:
            float: ``initial_delay * factor ** (failures - 1)``, at most ``max_delay``.
        """
        exponent = min(failures - 1, 64)  # no float overflow on long outages
        return min(self.max_delay, self.initial_delay * self.factor**exponent)


@attrs.define
class DeliveryLedger:
    """Per-file delivery state kept in memory, shared by overlapping drains.

    It makes each file delivered once per process even when two passes
    overlap, and remembers failed files' backoff.
    """

    in_flight: set[str] = attrs.field(factory=set)
    """Names a drain is delivering right now."""
    done: set[str] = attrs.field(factory=set)
    """Names delivered whose file could not be removed; pruned once it is gone."""
    failures: dict[str, int] = attrs.field(factory=dict)
    """Consecutive failed deliveries per name."""
    retry_at: dict[str, float] = attrs.field(factory=dict)
    """trio time before which a failed name is not tried again."""
    stuck: set[str] = attrs.field(factory=set)
    """Malformed names that cannot be quarantined (a folder); logged once."""
    targets: dict[str, str] = attrs.field(factory=dict)
    """The target of each file read but not delivered yet, so that a later pass skips a file
    held behind a failed one without reading it again (a blocked backlog costs no I/O)."""

    def prune(self, names: set[str]) -> None:
        """Forget names that are no longer pending."""
        self.done &= names
        self.stuck &= names
        for table in (self.failures, self.retry_at, self.targets):
            for name in table.keys() - names:
                del table[name]

    def next_retry(self, now: float) -> float | None:
        """The earliest retry time after ``now``, or None."""
        return min((t for t in self.retry_at.values() if t > now), default=None)


class Wakeup:
    """Wake a sleeping watcher early; a wake-up sent while it is busy is not lost."""

    def __init__(self) -> None:
        self._event = trio.Event()

    def set(self) -> None:
        """Make the current or next ``wait`` return at once."""
        self._event.set()

    async def wait(self, timeout: float) -> None:
        """Sleep up to ``timeout`` seconds or until ``set``, then re-arm."""
        with trio.move_on_after(timeout):
            await self._event.wait()
        self._event = trio.Event()


async def drain(
    directory: Path,
    deliver: Deliver,
    *,
    retry: RetryPolicy = RetryPolicy(),
    ledger: DeliveryLedger | None = None,
    on_delivered: Callable[[Trigger], object] | None = None,
    malformed_grace: float = 1.0,
    on_dead: Callable[[Trigger, str], object] | None = None,
) -> int:
    """Make one delivery pass over ``directory``, in filename order.

    A file is removed only after ``deliver`` returned, then ``on_delivered``
    runs (the cron service deletes a fired oneshot job there). A failure
    saves the bumped ``attempt`` in the file and sets its next retry time in
    the ledger; until then the file, and later files for the same target,
    are skipped. Cancelling leaves every undelivered file in place.

    Args:
        directory (Path): The ``triggers/`` folder.
        deliver (Deliver): Async callback; an ``Exception`` means "retry".
        retry (RetryPolicy): Backoff between failed attempts.
        ledger (DeliveryLedger | None): State shared by passes; pass the same
            one to every pass or the backoff is forgotten.
        on_delivered (Callable | None): Sync callback after a file is removed.
        malformed_grace (float): Seconds a malformed file may be younger
            than before it is quarantined, since it may still be being
            written by a program that skipped the temp-and-rename step.
        on_dead (Callable | None): Sync callback ``(trigger, reason)`` after a file
            became a dead letter (``retry.max_attempts`` failed attempts).

    Returns:
        int: Number of triggers delivered.
    """
    ledger = DeliveryLedger() if ledger is None else ledger
    pending = await scan_pending(directory)
    present: set[str] = set()
    for start in range(0, len(pending), _SCAN_CHUNK):
        present.update(pending[start : start + _SCAN_CHUNK])
        await trio.lowlevel.checkpoint()
    ledger.prune(present)
    await trio.lowlevel.checkpoint()
    heapq.heapify(pending)  # name order, one file at a time: no sort of the whole backlog
    blocked: set[str] = set()  # targets with an earlier file still undelivered
    delivered = skipped = 0
    while pending:
        name = heapq.heappop(pending)
        if name in ledger.in_flight or name in ledger.done:
            continue
        known = ledger.targets.get(name)
        if known is not None and _held(name, known, blocked, ledger):
            skipped += 1  # behind a failed file, or waiting for its own retry: not read again
            if skipped % _SCAN_CHUNK == 0:
                await trio.lowlevel.checkpoint()
            continue
        await trio.lowlevel.checkpoint()  # a stop can land before any file is read
        if name in ledger.in_flight or name in ledger.done:
            continue  # an overlapping drain took it meanwhile
        path = directory / name
        try:
            trigger = parse_trigger(path)
        except FileNotFoundError:
            continue  # delivered by an overlapping drain
        except MalformedTrigger as exc:
            _quarantine(path, exc.reason, malformed_grace, ledger)
            continue
        ledger.targets[name] = trigger.target
        if _held(name, trigger.target, blocked, ledger):
            continue
        ledger.in_flight.add(name)  # no checkpoint since the checks above
        try:
            await deliver(trigger)
        except Exception as exc:
            blocked.add(trigger.target)
            _failed(path, trigger, exc, retry, ledger, on_dead)
            continue
        finally:
            ledger.in_flight.discard(name)
        ledger.failures.pop(name, None)
        ledger.retry_at.pop(name, None)
        ledger.targets.pop(name, None)
        delivered += 1
        try:
            complete(path)
        except OSError as exc:
            ledger.done.add(name)
            _log.error("trigger delivered but not removed file=%s error=%r", path, exc)
        if on_delivered is not None:
            on_delivered(trigger)
    return delivered


_SCAN_CHUNK = 1024
"""Folder entries read between two checkpoints: listing 100,000 files never holds the loop."""


async def scan_pending(directory: Path) -> list[str]:
    """List the names of the pending trigger files, in no order, yielding to trio as it goes.

    The same files as :func:`list_pending` (temp and hidden names skipped), read
    ``_SCAN_CHUNK`` entries at a time with a checkpoint between chunks. A file created or
    removed during the scan may or may not be listed; the next pass sees it.
    """
    names: list[str] = []
    with os.scandir(directory) as entries:
        for count, entry in enumerate(entries, 1):
            if not is_temp_name(entry.name):
                names.append(entry.name)
            if count % _SCAN_CHUNK == 0:
                await trio.lowlevel.checkpoint()
    return names


def _held(name: str, target: str, blocked: set[str], ledger: DeliveryLedger) -> bool:
    """Whether a file must wait: an earlier file to its target failed, or its retry is not due.

    A held file blocks the later files to its target too, so each target keeps its order.
    """
    if target in blocked or ledger.retry_at.get(name, -math.inf) > trio.current_time():
        blocked.add(target)
        return True
    return False


def _quarantine(path: Path, reason: str, grace: float, ledger: DeliveryLedger) -> None:
    """Quarantine a malformed file once it is ``grace`` seconds old; log one that cannot move."""
    if path.name in ledger.stuck:
        return
    try:
        if time.time() - os.stat(path, follow_symlinks=False).st_mtime >= grace:
            quarantine(path, reason)
    except FileNotFoundError:
        pass
    except OSError as exc:
        ledger.stuck.add(path.name)
        _log.error("trigger ignored file=%s reason=%s error=%r", path, reason, exc)


def _failed(
    path: Path,
    trigger: Trigger,
    exc: Exception,
    retry: RetryPolicy,
    ledger: DeliveryLedger,
    on_dead: Callable[[Trigger, str], object] | None = None,
) -> None:
    if retry.max_attempts and trigger.attempt >= retry.max_attempts:
        reason = repr(exc)
        try:
            dead = dead_letter(path, trigger, reason, now=dt.datetime.now(dt.UTC))
        except OSError as error:  # disk full, permissions: keep retrying it
            _log.error("trigger dead letter failed file=%s error=%r", path, error)
        else:
            ledger.failures.pop(path.name, None)
            ledger.retry_at.pop(path.name, None)
            _log.error(
                "trigger dead-lettered job=%s target=%s attempts=%d file=%s error=%s",
                trigger.job_id,
                trigger.target,
                trigger.attempt,
                dead,
                reason,
            )
            if on_dead is not None:
                on_dead(trigger, reason)
            return
    failures = ledger.failures[path.name] = ledger.failures.get(path.name, 0) + 1
    delay = retry.delay(failures)
    ledger.retry_at[path.name] = trio.current_time() + delay
    if failures & (failures - 1) == 0:  # log the 1st, 2nd, 4th, 8th ... failure
        _log.warning(
            "trigger delivery failed file=%s target=%s attempt=%d retry_in=%.3gs error=%r",
            path,
            trigger.target,
            trigger.attempt,
            delay,
            exc,
        )
    # Keep the attempt count in the file, for the event and for the next run.
    with contextlib.suppress(FileNotFoundError):
        if path.exists():
            bumped = attrs.evolve(trigger, attempt=trigger.attempt + 1)
            write_atomic(path, encode_trigger(bumped))


async def watch_triggers(
    directory: Path,
    deliver: Deliver,
    *,
    poll_interval: float = 0.5,
    retry: RetryPolicy = RetryPolicy(),
    on_delivered: Callable[[Trigger], object] | None = None,
    malformed_grace: float = 1.0,
    wakeup: Wakeup | None = None,
    on_dead: Callable[[Trigger, str], object] | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Drain ``directory`` now, then again and again until cancelled.

    A new pass starts after ``poll_interval`` seconds, when a failed
    delivery's retry is due, or when ``wakeup`` is set, whichever is first.
    Reports started at once, before the first pass. A pass that fails with
    an ``OSError`` (the folder was removed, permissions) is logged and the
    next one runs on time. Arguments are as for :func:`drain`.
    """
    if not poll_interval > 0:
        raise ValueError(f"poll_interval must be > 0, got {poll_interval!r}")
    ledger = DeliveryLedger()
    wakeup = Wakeup() if wakeup is None else wakeup
    task_status.started()
    while True:
        try:
            await drain(
                directory,
                deliver,
                retry=retry,
                ledger=ledger,
                on_delivered=on_delivered,
                malformed_grace=malformed_grace,
                on_dead=on_dead,
            )
        except OSError as exc:  # folder removed, permissions, disk: try again next poll
            _log.error("trigger pass failed dir=%s error=%r", directory, exc)
        now = trio.current_time()
        due = ledger.next_retry(now)
        await wakeup.wait(poll_interval if due is None else min(poll_interval, due - now))
