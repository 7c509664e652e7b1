"""The event a cron service delivers: ``cron.trigger`` messages with a :class:`CronEvent`."""

from __future__ import annotations

import datetime as dt

import attrs

from .._core._process import Process
from ._triggerfiles import JsonValue, Trigger

__all__ = ["CRON_TOPIC", "CronEvent", "send_event"]

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
        """Build the event for a parsed trigger file."""
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
