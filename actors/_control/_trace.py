"""``actors trace``: the messages a process receives and sends, and its events and exit, live.

Zero cost when no trace is active: nothing in the kernel looks for tracers. Tracing a process
switches its class to ``_Traced`` (a subclass with the same slots, whose ``_deliver``,
``_post_event``, ``send``, ``call`` and ``reply`` report to the tracers before doing what
``Process`` does) and switches it back when the last trace on it ends. Only the traced process
pays, and only while traced.

As recon_trace does, every trace is bounded: it ends by itself after ``count`` events or
``seconds``, and at most ``rate`` events a second are reported (the others are counted as
dropped). The hooks never block: events go into a bounded buffer that the connection's task
drains; a full buffer drops, and says so.
"""

from __future__ import annotations

import fnmatch
import reprlib
from collections import deque
from typing import Any, final

import trio

from .._core._messages import Event, Exit, Message
from .._core._node import Node
from .._core._pid import PID
from .._core._process import Process
from ._protocol import TraceEnd, TraceEvent, TraceRequest

BUFFER = 1000
"""Events buffered per trace between the node and the client."""

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 200
_REPR.maxlevel = 3
_TRACERS: trio.lowlevel.RunVar[dict[Process, list[Tracer]]] = trio.lowlevel.RunVar(
    "actors.control.tracers"
)


def _tracers() -> dict[Process, list[Tracer]]:
    try:
        return _TRACERS.get()
    except LookupError:
        table: dict[Process, list[Tracer]] = {}
        _TRACERS.set(table)
        return table


def _report(proc: Process, kind: str, topic: str, peer: object, payload: object) -> None:
    for tracer in _tracers().get(proc, ()):
        tracer.note(kind, topic, peer, payload)


class _Traced(Process):  # type: ignore[misc]  # Process is final to users; this is the runtime
    """A traced process: each hook reports, then does what ``Process`` does."""

    __slots__ = ()

    def _deliver(self, message: Message) -> None:
        _report(self, "in", message.topic, message.sender, message.payload)
        Process._deliver(self, message)

    def _post_event(self, event: Event) -> None:
        _report(self, "event", type(event).__name__, getattr(event, "pid", None), event)
        Process._post_event(self, event)

    def send(self, dest: PID | str, topic: str, payload: object = None) -> None:
        Process.send(self, dest, topic, payload)
        _report(self, "out", topic, dest, payload)

    async def call(
        self, dest: PID | str, topic: str, payload: object = None, *, timeout: float = 5.0
    ) -> Any:
        _report(self, "call", topic, dest, payload)
        result = await Process.call(self, dest, topic, payload, timeout=timeout)
        _report(self, "reply in", topic, dest, result)
        return result

    def reply(self, message: Message, value: object = None) -> bool:
        _report(self, "reply", message.topic, message.sender, value)
        return Process.reply(self, message, value)


@final
class Tracer:
    """One ``actors trace`` session on one process (made by ``trace``)."""

    def __init__(self, proc: Process, request: TraceRequest) -> None:
        self.proc = proc
        self.request = request
        self.started = trio.current_time()
        self.buffer: deque[TraceEvent] = deque()
        self.wake = trio.Event()
        self.events = 0
        self.dropped = 0
        self.ended: str | None = None
        self._second = self.started
        self._in_second = 0

    def note(self, kind: str, topic: str, peer: object, payload: object) -> None:
        """Record one event (called from the traced process's hooks: never blocks)."""
        if self.ended is not None:
            return
        if kind in ("in", "out", "call", "reply", "reply in") and not fnmatch.fnmatchcase(
            topic, self.request.topic
        ):
            return
        now = trio.current_time()
        if now - self._second >= 1.0:
            self._second, self._in_second = now, 0
        if self._in_second >= self.request.rate or len(self.buffer) >= BUFFER:
            self.dropped += 1
            return
        self._in_second += 1
        self.events += 1
        self.buffer.append(
            TraceEvent(
                now - self.started,
                kind,
                topic,
                "" if peer is None else str(peer),
                _REPR.repr(payload),
            )
        )
        if self.events >= self.request.count:
            self.ended = "count"
        self.wake.set()

    def exited(self, exit: Exit) -> None:
        if exit.pid != self.proc.pid or self.ended is not None:
            return
        reason = exit.reason.value + ("" if exit.error is None else f" {exit.error!r}")
        self.buffer.append(
            TraceEvent(trio.current_time() - self.started, "exit", reason, "", _REPR.repr(None))
        )
        self.events += 1
        self.ended = "exit"
        self.wake.set()

    def end(self, why: str) -> TraceEnd:
        return TraceEnd(self.ended or why, self.events, self.dropped)


def start(node: Node, proc: Process, request: TraceRequest) -> tuple[Tracer, Any]:
    """Begin tracing ``proc``; returns the tracer and the function that stops it."""
    tracer = Tracer(proc, request)
    table = _tracers()
    table.setdefault(proc, []).append(tracer)
    proc.__class__ = _Traced
    unwatch = node.watch_exits(tracer.exited)

    def stop() -> None:
        unwatch()
        tracers = table.get(proc, [])
        if tracer in tracers:
            tracers.remove(tracer)
        if not tracers:
            table.pop(proc, None)
            proc.__class__ = Process  # untraced again: not a single extra check left

    return tracer, stop


async def next_batch(tracer: Tracer) -> list[TraceEvent]:
    """Wait for events (or the end, or the time limit); return what is buffered."""
    deadline = tracer.started + tracer.request.seconds
    with trio.move_on_at(deadline):
        while not tracer.buffer and tracer.ended is None:
            await tracer.wake.wait()
            tracer.wake = trio.Event()
    if not tracer.buffer and tracer.ended is None and trio.current_time() >= deadline:
        tracer.ended = "time"
    batch = list(tracer.buffer)
    tracer.buffer.clear()
    return batch
