"""Thespian 4, in-process ``simpleSystemBase``: every actor runs in the caller's thread.

Actors run only while the external side is inside ``tell``/``ask``/``listen``.  Timers are
``wakeupAfter``; the base keeps wake-ups in a list it rescans on every send, which is what makes
it livelock from about 2k ticking actors (the runner then records a "stopped" row).
"spawn" has no separate first step here: ``createActor`` constructs the actor synchronously, so
time to parked equals time to addresses.  ``call_reply`` is the external ``ActorSystem.ask``.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from thespian.actors import Actor, ActorSystem, WakeupMessage

from bench._common import (
    SETTLE_S,
    GcMonitor,
    MeasuredSpan,
    MemoryProbe,
    Metrics,
    TickWindow,
    call_metrics,
    deliver,
    first_offsets,
    now,
    phase,
    pingpong_metrics,
    spawn_metrics,
    tick_metrics,
    tick_periods,
)

NAME = "thespian"
_WINDOW = TickWindow()
_LONG = timedelta(seconds=600)


def _system() -> Any:
    logging.getLogger("Thespian").setLevel(logging.ERROR)
    return ActorSystem("simpleSystemBase", logDefs=False)


class _Idle(Actor):  # type: ignore[misc]
    def receiveMessage(self, message: Any, sender: Any) -> None:
        pass


def _spawn(asys: Any, n: int) -> tuple[list[Any], float]:
    t0 = now()
    addrs = [asys.createActor(_Idle) for _ in range(n)]
    return addrs, now() - t0


def spawn(n: int) -> Metrics:
    asys = _system()
    _addrs, elapsed = _spawn(asys, n)
    return deliver(spawn_metrics(n, elapsed, elapsed))


def idle_memory(n: int, probe: MemoryProbe) -> Metrics:
    asys = _system()
    probe.before()
    _addrs, _ = _spawn(asys, n)
    return deliver(probe.after(n))


class _Collector(Actor):  # type: ignore[misc]
    def receiveMessage(self, message: Any, sender: Any) -> None:
        if isinstance(message, tuple):
            _WINDOW.record(message[1], time.monotonic())


class _Ticker(Actor):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._period = 1.0
        self._deadline = 0.0
        self._collector: Any = None
        self._ident = 0

    def receiveMessage(self, message: Any, sender: Any) -> None:
        if isinstance(message, WakeupMessage):
            self.send(self._collector, (self._ident, self._deadline))
            self._deadline += self._period
        elif isinstance(message, tuple):  # ("start", ident, period, offset, collector)
            _, self._ident, self._period, offset, self._collector = message
            self._deadline = time.monotonic() + offset
        else:
            return
        delay = max(0.0, self._deadline - time.monotonic())
        self.wakeupAfter(timedelta(seconds=delay))


def _run_for(asys: Any, seconds: float) -> None:
    """Let the actors run for ``seconds`` (``listen`` may return early when nothing is due)."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        asys.listen(timedelta(seconds=left))


def ticking(
    n: int, seconds: float, tick_min: float, tick_max: float, warmup: float = 1.0
) -> Metrics:
    periods = tick_periods(n, tick_min, tick_max)
    offsets = first_offsets(periods)
    gc_monitor = GcMonitor()
    asys = _system()
    collector = asys.createActor(_Collector)
    phase("spawn")
    t0 = now()
    for ident, (period, offset) in enumerate(zip(periods, offsets, strict=True)):
        asys.tell(asys.createActor(_Ticker), ("start", ident, period, offset, collector))
    spawn_s = now() - t0
    phase("warmup")
    _run_for(asys, warmup)
    phase("window")
    with MeasuredSpan(_WINDOW, gc_monitor) as span:
        _run_for(asys, seconds)
    _run_for(asys, SETTLE_S)
    return deliver(
        tick_metrics(_WINDOW, n, span.cpu_s, span.wall_s, tick_min, tick_max, gc_monitor, spawn_s)
    )


class _Pong(Actor):  # type: ignore[misc]
    def receiveMessage(self, message: Any, sender: Any) -> None:
        if message == "ping":
            self.send(sender, "pong")


class _Ping(Actor):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._left = 0
        self._requester: Any = None

    def receiveMessage(self, message: Any, sender: Any) -> None:
        if isinstance(message, tuple):  # ("start", rounds, pong)
            _, self._left, pong = message
            self._requester = sender
            self.send(pong, "ping")
        elif message == "pong":
            self._left -= 1
            if self._left == 0:
                self.send(self._requester, "done")
            else:
                self.send(sender, "ping")


def pingpong(rounds: int) -> Metrics:
    asys = _system()
    ping, pong = asys.createActor(_Ping), asys.createActor(_Pong)
    t0 = now()
    reply = asys.ask(ping, ("start", rounds, pong), _LONG)
    elapsed = now() - t0
    if reply != "done":
        raise RuntimeError(f"ping-pong got {reply!r}")
    return deliver(pingpong_metrics(rounds, elapsed))


class _Receiver(Actor):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._left = 0
        self._requester: Any = None

    def receiveMessage(self, message: Any, sender: Any) -> None:
        if isinstance(message, tuple):  # ("expect", total)
            self._left = message[1]
            self._requester = sender
        elif isinstance(message, int):
            self._left -= 1
            if self._left == 0:
                self.send(self._requester, "done")


class _Sender(Actor):  # type: ignore[misc]
    def receiveMessage(self, message: Any, sender: Any) -> None:
        if isinstance(message, tuple):  # ("go", count, receiver)
            _, count, receiver = message
            for i in range(count):
                self.send(receiver, i)


def fanin(senders: int, messages: int) -> Metrics:
    total = senders * messages
    asys = _system()
    receiver = asys.createActor(_Receiver)
    refs = [asys.createActor(_Sender) for _ in range(senders)]
    t0 = now()
    asys.tell(receiver, ("expect", total))
    for ref in refs:
        asys.tell(ref, ("go", messages, receiver))
    reply = asys.listen(_LONG)
    elapsed = now() - t0
    if reply != "done":
        raise RuntimeError(f"fan-in got {reply!r}")
    return deliver({"messages_per_s": total / elapsed})


class _Server(Actor):  # type: ignore[misc]
    def receiveMessage(self, message: Any, sender: Any) -> None:
        if isinstance(message, int):
            self.send(sender, message)


def call_reply(rounds: int) -> Metrics:
    asys = _system()
    server = asys.createActor(_Server)
    samples: list[float] = []
    timeout = timedelta(seconds=5)
    for i in range(rounds):
        t0 = now()
        if asys.ask(server, i, timeout) != i:
            raise RuntimeError("call/reply got a wrong reply")
        samples.append(now() - t0)
    return deliver(call_metrics(samples))
