"""Pykka 4: one OS thread per actor (``ThreadingActor``), ``tell``/``ask`` messaging.

Pykka has no timers, so ticking uses the better of the two measured shapes ("sched"): one timer
thread keeps a heap of deadlines and ``tell``s each actor its scheduled time; the actor ``tell``s
it on to one collector actor.  (An actor sleeping in its own handler falls over sooner.)
The collector writes into a shared :class:`TickWindow`, so reading results never waits behind
its inbox backlog.  Processes end with ``os._exit`` via the worker: ``stop_all`` of 10k busy
actors would take longer than the measurement.
"""

from __future__ import annotations

import heapq
import threading
import time
from typing import Any

import pykka

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

NAME = "pykka"


class _Parked(pykka.ThreadingActor):
    def __init__(self, counter: _Counter) -> None:
        super().__init__()
        self._counter = counter

    def on_start(self) -> None:
        self._counter.hit()


class _Counter:
    def __init__(self, target: int) -> None:
        self._target = target
        self._count = 0
        self._lock = threading.Lock()
        self.done = threading.Event()

    def hit(self) -> None:
        with self._lock:
            self._count += 1
            if self._count >= self._target:
                self.done.set()


def _spawn_parked(n: int) -> tuple[list[Any], float, float]:
    counter = _Counter(n)
    t0 = now()
    refs = [_Parked.start(counter) for _ in range(n)]
    t1 = now()
    counter.done.wait()
    return refs, t1 - t0, now() - t0


def _finish(metrics: Metrics) -> Metrics:
    result = deliver(metrics)
    pykka.ActorRegistry.stop_all(block=False)
    return result


def spawn(n: int) -> Metrics:
    _refs, to_pids, to_parked = _spawn_parked(n)
    return _finish(spawn_metrics(n, to_pids, to_parked))


def idle_memory(n: int, probe: MemoryProbe) -> Metrics:
    probe.before()
    _refs, _, _ = _spawn_parked(n)
    return _finish(probe.after(n))


class _Collector(pykka.ThreadingActor):
    def __init__(self, window: TickWindow) -> None:
        super().__init__()
        self._window = window

    def on_receive(self, message: Any) -> None:
        self._window.record(message[1], time.monotonic())


class _Ticker(pykka.ThreadingActor):
    def __init__(self, collector: Any) -> None:
        super().__init__()
        self._collector = collector

    def on_receive(self, message: Any) -> None:
        self._collector.tell(message)


def _timer_thread(refs: list[Any], periods: list[float], offsets: list[float]) -> None:
    start = time.monotonic()
    heap = [(start + off, i) for i, off in enumerate(offsets)]
    heapq.heapify(heap)
    while True:
        deadline, i = heap[0]
        delay = deadline - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        heapq.heapreplace(heap, (deadline + periods[i], i))
        refs[i].tell((i, deadline))


def ticking(
    n: int, seconds: float, tick_min: float, tick_max: float, warmup: float = 1.0
) -> Metrics:
    periods = tick_periods(n, tick_min, tick_max)
    offsets = first_offsets(periods)
    window = TickWindow()
    gc_monitor = GcMonitor()
    collector = _Collector.start(window)
    phase("spawn")
    t0 = now()
    refs = [_Ticker.start(collector) for _ in range(n)]
    spawn_s = now() - t0
    threading.Thread(target=_timer_thread, args=(refs, periods, offsets), daemon=True).start()
    phase("warmup")
    time.sleep(warmup)
    phase("window")
    with MeasuredSpan(window, gc_monitor) as span:
        time.sleep(seconds)
    time.sleep(SETTLE_S)
    return _finish(
        tick_metrics(window, n, span.cpu_s, span.wall_s, tick_min, tick_max, gc_monitor, spawn_s)
    )


class _Pong(pykka.ThreadingActor):
    def on_receive(self, message: Any) -> None:
        message.tell("pong")


class _Ping(pykka.ThreadingActor):
    def __init__(self, rounds: int, done: threading.Event) -> None:
        super().__init__()
        self._left = rounds
        self._done = done
        self._pong: Any = None

    def on_receive(self, message: Any) -> None:
        if isinstance(message, tuple):  # ("start", pong_ref)
            self._pong = message[1]
        else:
            self._left -= 1
            if self._left == 0:
                self._done.set()
                return
        self._pong.tell(self.actor_ref)


def pingpong(rounds: int) -> Metrics:
    done = threading.Event()
    ping = _Ping.start(rounds, done)
    pong = _Pong.start()
    t0 = now()
    ping.tell(("start", pong))
    done.wait()
    return _finish(pingpong_metrics(rounds, now() - t0))


class _Receiver(pykka.ThreadingActor):
    def __init__(self, total: int, done: threading.Event) -> None:
        super().__init__()
        self._left = total
        self._done = done

    def on_receive(self, message: Any) -> None:
        self._left -= 1
        if self._left == 0:
            self._done.set()


class _Sender(pykka.ThreadingActor):
    def on_receive(self, message: Any) -> None:
        receiver, count = message
        for i in range(count):
            receiver.tell(i)


def fanin(senders: int, messages: int) -> Metrics:
    total = senders * messages
    done = threading.Event()
    receiver = _Receiver.start(total, done)
    refs = [_Sender.start() for _ in range(senders)]
    t0 = now()
    for ref in refs:
        ref.tell((receiver, messages))
    done.wait()
    return _finish({"messages_per_s": total / (now() - t0)})


class _Server(pykka.ThreadingActor):
    def on_receive(self, message: Any) -> Any:
        return message


def call_reply(rounds: int) -> Metrics:
    server = _Server.start()
    samples: list[float] = []
    for i in range(rounds):
        t0 = now()
        server.ask(i, timeout=5)
        samples.append(now() - t0)
    return _finish(call_metrics(samples))
