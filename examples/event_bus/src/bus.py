"""The event bus: ``publish(system, kind, path, data)`` and glob subscriptions, best-effort.

``users`` publishes a user event every 200 ms (``users``/``created``, ``updated`` or
``deleted``, on ``/users/<id>``). Three subscribers get them as ordinary messages whose payload
is an ``actors.BusEvent``:

- ``audit`` subscribes to everything (``*``/``*``/``*``) and logs each event;
- ``welcome`` subscribes to ``users``/``created`` only, on its own topic ``welcome``;
- ``slow_mailer`` subscribes to ``users``/``*``/``/users/*`` but takes 1 s per event and has a
  mailbox of 3 that drops the oldest: the publisher never waits for it, it just loses events
  (its mailbox counts the drops).

Publishing is synchronous: each subscriber has the event in its mailbox when ``publish``
returns, and sees one publisher's events in the order they were published. Ctrl+C stops every
service; each logs how many events it handled.
"""

from __future__ import annotations

import actors
from actors import Cancel, Process

log = actors.get_logger("app.bus")
KINDS = ("created", "updated", "updated", "deleted")


async def users(proc: Process) -> int:
    """Publish a user event every 200 ms until cancelled; return how many were published."""
    bus = actors.bus(proc)
    ticks = proc.ticker("200ms", buffer=1)
    published = 0
    while True:
        got = await actors.select(proc.events, ticks)
        if isinstance(got.value, Cancel):
            log.info("Publisher stopped", published=published, stats=bus.statistics())
            return published
        if got.source is ticks:
            user = published // len(KINDS) + 1
            kind = KINDS[published % len(KINDS)]
            reached = bus.publish("users", kind, f"/users/{user}", {"name": f"user{user}"})
            published += 1
            log.info("PUBLISH", kind=kind, path=f"/users/{user}", subscribers=reached)


async def _consume(proc: Process, name: str, topic: str, seconds_per_event: float = 0.0) -> int:
    """Handle bus messages on ``topic`` until cancelled; return how many were handled."""
    events = proc.listen(topic)
    handled = 0
    try:
        while True:
            got = await actors.select(proc.events, events)
            if isinstance(got.value, Cancel):
                break
            if isinstance(got.value, actors.Message):
                event: actors.BusEvent = got.value.payload
                handled += 1
                log.info(f"EVENT {name}", kind=f"{event.system}.{event.kind}", path=event.path)
                if seconds_per_event:
                    await proc.sleep(seconds_per_event)  # a Cancel here raises Cancelled
    except actors.Cancelled:
        pass  # stopped in the middle of an event
    dropped = events.statistics().dropped
    log.info("Subscriber stopped", name=name, handled=handled, dropped=dropped)
    return handled


async def audit(proc: Process) -> int:
    """Log every event on the bus."""
    actors.bus(proc).subscribe("*", "*", "*", topic="audit")
    return await _consume(proc, "audit", "audit")


async def welcome(proc: Process) -> int:
    """Greet new users: only ``users``/``created``."""
    actors.bus(proc).subscribe("users", "created", topic="welcome")
    return await _consume(proc, "welcome", "welcome")


async def slow_mailer(proc: Process) -> int:
    """Run the mailer in a child with a small mailbox (3, drop oldest); stop it on Cancel."""
    bounded = actors.MailboxPolicy(limit=3, overflow="drop_oldest")
    child = proc.spawn_monitored(_mailer, mailbox=bounded)
    while not isinstance(await proc.events.receive(), Cancel):
        pass
    proc.cancel(child)
    while True:
        event = await proc.events.receive()
        if isinstance(event, actors.Exit) and event.pid == child:
            return int(event.result or 0)


async def _mailer(proc: Process) -> int:
    """A slow subscriber: 1 s per event. It loses events; the publisher never waits for it."""
    actors.bus(proc).subscribe("users", "*", "/users/*", topic="mail")
    return await _consume(proc, "slow_mailer", "mail", seconds_per_event=1.0)
