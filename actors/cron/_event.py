"""The event a cron service delivers: ``cron.trigger`` messages with a :class:`CronEvent`."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import attrs
import trio

from .._core._exceptions import ProcessNotFound
from .._core._pid import PID
from .._core._process import Process
from ._job import Job
from ._triggerfiles import JsonValue, Trigger, write_trigger

__all__ = [
    "CRON_TOPIC",
    "CronEvent",
    "check_targets_later",
    "missing_target",
    "notify_ready_if_service",
    "send_event",
    "warn_missing_targets",
    "write_trigger_file",
]

_log = logging.getLogger("actors.cron")

CRON_TOPIC = "cron.trigger"
"""Topic of the messages the service delivers."""


@attrs.frozen
class CronEvent:
    """The payload of a ``cron.trigger`` message: one delivered trigger file."""

    job_id: str | None
    """The job that fired, or None for an external trigger."""
    name: str | None
    """The job's name, or None."""
    prompt: str | None
    """The text (a heartbeat job's file contents are appended)."""
    payload: JsonValue
    """Structured JSON data, or None."""
    scheduled_for: dt.datetime | None
    """The cron slot fired (UTC); None for external triggers."""
    fired_at: dt.datetime | None
    """When the trigger file was written (UTC)."""
    attempt: int
    """1 for the first delivery; higher after failed deliveries."""
    trigger: str
    """The trigger file name: a key to drop a redelivery after a crash."""

    @classmethod
    def from_trigger(cls, trigger: Trigger) -> CronEvent:
        """Build the event for a parsed trigger file.

        Args:
            trigger (TriggerFile): The parsed trigger; ``trigger`` is its ``source`` file
                name ("" when it has none).
        """
        return cls(
            job_id=trigger.job_id,
            name=trigger.job_name,
            prompt=trigger.prompt,
            payload=trigger.payload,
            scheduled_for=trigger.scheduled_for,
            fired_at=trigger.fired_at,
            attempt=trigger.attempt,
            trigger=trigger.source or "",
        )


async def send_event(proc: Process, ack_timeout: float | None, trigger: Trigger) -> None:
    """Deliver one trigger as a ``cron.trigger`` message: ``send``, or ``call`` and wait for
    the target's reply if ``ack_timeout`` is set. Raises (``ProcessNotFound``, a full
    mailbox, a timeout) when the delivery failed."""
    event = CronEvent.from_trigger(trigger)
    if ack_timeout is None:
        proc.send(trigger.target, CRON_TOPIC, event)
    else:
        await proc.call(trigger.target, CRON_TOPIC, event, timeout=ack_timeout)


def missing_target(proc: Process, target: str) -> str | None:
    """Why ``target`` names no process reachable from ``proc``'s node, or None if it does
    (or cannot be told: a PID of another node)."""
    if target.startswith("{"):
        try:
            pid = PID.parse(target)
        except ValueError:
            return "it is not a valid PID"
        if pid.node != proc.pid.node:
            return None
        try:
            proc.node.info(pid)
        except ProcessNotFound:
            return "no process has this PID"
        return None
    if proc.lookup(target) is None:
        return "no process is registered under this name"
    return None


def warn_missing_targets(
    proc: Process, jobs: Iterable[Job], warned: set[tuple[str, str]], max_attempts: int
) -> None:
    """Log a warning naming each enabled job whose target is missing (once per job and
    target, kept in ``warned``)."""
    for job in jobs:
        key = (job.id, job.target)
        if not job.enabled or key in warned:
            continue
        problem = missing_target(proc, job.target)
        if problem is not None:
            warned.add(key)
            then = f"dead letters after {max_attempts} attempts" if max_attempts else "retried"
            _log.warning(
                "cron job target not found job=%s target=%s: %s (a typo, or not started yet); "
                "its triggers will fail and become %s",
                job.id,
                job.target,
                problem,
                then,
            )


def notify_ready_if_service(proc: Process) -> None:
    """Tell a service manager that waits for readiness that we are running."""
    try:
        from .._supervision._service import notify_ready, owners
    except ImportError:  # pragma: no cover - services are optional
        return
    if proc.pid in owners():
        notify_ready(proc)


async def write_trigger_file(folder: Path, trigger: Trigger) -> None:
    """Hand a PostgreSQL run over as a trigger file (``role="schedule"``)."""
    path = await trio.to_thread.run_sync(write_trigger, folder, trigger)
    _log.info("cron fired job=%s file=%s", trigger.job_id, path.name)


async def check_targets_later(
    proc: Process, list_jobs: Callable[[], list[Job]], delay: float, max_attempts: int
) -> None:
    """After ``delay`` seconds (the app's processes register their names meanwhile), warn
    about each enabled job whose target is missing (a PostgreSQL store: once, at start)."""
    await trio.sleep(delay)
    try:
        jobs = await trio.to_thread.run_sync(list_jobs)
    except OSError:  # the store is unreachable: the scheduler logs that
        return
    warn_missing_targets(proc, jobs, set(), max_attempts)
