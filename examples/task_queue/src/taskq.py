"""A durable task queue: the migration, the queue service, its consumers and a load generator.

- ``migration`` (a one-shot service with ``lifecycle.ready: true``) runs the ``app:migrate``
  function entry (``blocking: true``: SQLite in a worker thread), calls ``notify_ready`` and
  returns: the services that ``require`` it start only then.
- ``queue`` (the service ``app:queue``) owns the tasks. It answers ``enqueue``, ``take`` (a
  long poll), ``ack``, ``nack``, ``stats`` and ``dead`` calls. Each round it takes every message
  waiting in its mailbox, writes their changes in one transaction, and only then replies: an
  enqueued task is on disk before its id is returned. On start it puts back the tasks that
  were taken and never acknowledged (the app or a consumer died meanwhile).
- ``consumers`` (a ``pool`` entry) take a task, run its ``function`` entry with
  ``(payload, attempt)`` and ``ack`` or ``nack`` it. The queue retries a failed task after a
  doubling delay, up to its ``max_attempts``, then marks it dead. A consumer that crashes
  while holding a task fails that attempt; one that is stopped hands it back.
- ``load`` (``actors run examples/task_queue -x app:load``) enqueues ``LOAD_TASKS`` tasks from
  ``LOAD_CALLERS`` concurrent callers and prints the throughput and latency.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import sys
from collections import deque
from pathlib import Path
from typing import Any

import attrs
import trio

import actors
import registry
from actors import Cancel, Exit, Message, Process
from registry import current_app

log = actors.get_logger("app.tasks")

QUEUE = "app:queue"
MAX_PAYLOAD = 64 * 1024
"""The most bytes a task's payload may take as JSON."""
MAX_WAIT = 60.0
"""The longest a ``take`` may wait for a task, in seconds."""
BATCH = 512
"""The most messages handled in one round (one transaction)."""
RECENT = 100_000
"""How many finished tasks ``stats`` remembers (for latencies and ``ids`` ranges)."""
TOPICS = ("enqueue", "take", "ack", "nack", "stats", "dead")


def db_file(proc: Process, path: str) -> str:
    """``path`` as given, or resolved against the app's index folder when relative."""
    return os.path.normpath(Path(current_app(proc).root, path))


async def migration(proc: Process, path: str) -> None:
    """The one-shot migration: create or upgrade the schema, say ready, return."""
    app = current_app(proc)
    file = db_file(proc, path)
    found = await app.funcs.call("app:migrate", file)
    log.info("Migrated", db=file, schema_before=found)
    actors.notify_ready(proc)


@attrs.define(slots=True)
class Task:
    """A pending task as the queue keeps it."""

    id: int
    function: str
    payload: str  # JSON text, as stored
    attempts: int
    max_attempts: int
    enqueued_at: float  # wall-clock seconds, as stored
    due: float = 0.0  # trio time
    consumer: actors.PID | None = None


@attrs.define(slots=True)
class Waiter:
    """A consumer's ``take`` waiting for a task until ``expires`` (trio time)."""

    msg: Message
    expires: float


class Queue:
    """The queue service's state (one instance per run of the service)."""

    def __init__(self, proc: Process, store: Any, config: dict[str, Any]) -> None:
        self.proc, self.store = proc, store
        self.funcs = current_app(proc).funcs
        self.wall = actors.resolve_wall_clock(None)
        self.max_attempts = int(config.get("max_attempts", 5))
        self.max_pending = int(config.get("max_pending", 100_000))
        self.backoff = actors.Backoff(
            initial=actors.parse_duration(config.get("retry_initial", "500ms")),
            max_delay=actors.parse_duration(config.get("retry_max", "30s")),
            jitter=0,
        )
        self.tasks: dict[int, Task] = {}
        self.ready: list[tuple[float, int]] = []  # (due, id); stale entries skipped when popped
        self.waiters: deque[Waiter] = deque()
        self.monitored: set[actors.PID] = set()
        self.ops: list[tuple[str, tuple[Any, ...]]] = []
        self.replies: list[tuple[Message, Any, bool]] = []  # (request, value, is error)
        self.handed: list[tuple[Message, Task]] = []  # tasks given out this round
        self.reads: list[Message] = []  # dead-letter reads, after the round's commit
        self.counts = {"done": 0, "dead": 0, "retried": 0, "enqueued": 0}
        self.recent: deque[tuple[int, str, float]] = deque(maxlen=RECENT)  # (id, state, s)
        self.next_id = 1
        metrics = actors.metrics(proc)
        self.finished = metrics.counter("tasks_total", "Tasks finished, by outcome", ["outcome"])
        self.latency = metrics.histogram(
            "task_latency_seconds", "Enqueue to ack", buckets=[0.01, 0.05, 0.1, 0.5, 1, 5, 30]
        )

    def now(self) -> float:
        return self.wall().timestamp()

    def load(self, pending: list[tuple[Any, ...]], counts: dict[str, int], last: int) -> None:
        """Take what :meth:`Store.recover` read."""
        now, wall = trio.current_time(), self.now()
        cap = self.backoff.max_delay  # a stored time far ahead (a clock step) waits no longer
        for id_, function, payload, attempts, max_attempts, run_at, enqueued_at in pending:
            task = Task(id_, function, payload, attempts, max_attempts, enqueued_at)
            task.due = now + min(max(run_at - wall, 0.0), cap)
            self.tasks[id_] = task
            heapq.heappush(self.ready, (task.due, id_))
        self.counts["done"], self.counts["dead"] = counts.get("done", 0), counts.get("dead", 0)
        self.next_id = last + 1

    def handle(self, msg: Message) -> None:
        """Apply one request to the state; its reply waits for the round's commit."""
        handler = getattr(self, f"on_{msg.topic}", None) if msg.topic in TOPICS else None
        if handler is None:
            self.refuse(
                msg, ValueError(f"unknown topic {msg.topic!r}; topics: {', '.join(TOPICS)}")
            )
            return
        try:
            handler(msg)
        except (ValueError, LookupError, RuntimeError) as exc:
            self.refuse(msg, exc)

    def refuse(self, msg: Message, error: Exception) -> None:
        if msg.reply_to is not None:
            self.replies.append((msg, error, True))
        else:
            log.warning("Request refused", topic=msg.topic, error=str(error))

    def on_enqueue(self, msg: Message) -> None:
        request = _mapping(msg.payload, "enqueue", {"function", "payload", "max_attempts"})
        function = request.get("function")
        tasks = current_app(self.proc).registry.find(kind="function", meta={"type": "task"})
        if not isinstance(function, str) or function not in {entry.id for entry in tasks}:
            names = ", ".join(entry.id for entry in tasks)
            raise ValueError(f"enqueue: function {function!r} is not a task (tasks: {names})")
        try:
            payload = json.dumps(request.get("payload"), allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"enqueue: payload is not JSON: {exc}") from None
        if len(payload.encode()) > MAX_PAYLOAD:
            raise ValueError(
                f"enqueue: payload is {len(payload.encode())} bytes as JSON, max {MAX_PAYLOAD}"
            )
        attempts = request.get("max_attempts", self.max_attempts)
        if type(attempts) is not int or not 1 <= attempts <= 100:
            raise ValueError(f"enqueue: max_attempts must be an int in 1..100, got {attempts!r}")
        if len(self.tasks) >= self.max_pending:
            raise RuntimeError(f"queue full: {len(self.tasks)} tasks pending (max_pending)")
        task = Task(self.next_id, function, payload, 0, attempts, self.now(), trio.current_time())
        self.next_id += 1
        self.tasks[task.id] = task
        heapq.heappush(self.ready, (task.due, task.id))
        self.counts["enqueued"] += 1
        self.ops.append(
            (
                "INSERT INTO tasks (id, function, payload, state, max_attempts, run_at,"
                " enqueued_at) VALUES (?, ?, ?, 'ready', ?, ?, ?)",
                (task.id, function, payload, attempts, task.enqueued_at, task.enqueued_at),
            )
        )
        self.replies.append((msg, task.id, False))

    def on_take(self, msg: Message) -> None:
        if msg.sender is None or msg.reply_to is None:
            raise ValueError("take: only a process's call can take a task")
        request = _mapping(msg.payload or {}, "take", {"wait"})
        wait = request.get("wait", 5)
        if not isinstance(wait, int | float) or isinstance(wait, bool) or not 0 <= wait <= MAX_WAIT:
            raise ValueError(f"take: wait must be seconds in 0..{MAX_WAIT:g}, got {wait!r}")
        if msg.sender not in self.monitored:
            self.monitored.add(msg.sender)
            self.proc.monitor(msg.sender)
        self.waiters.append(Waiter(msg, trio.current_time() + wait))

    def held(self, msg: Message, topic: str) -> Task:
        request = _mapping(msg.payload, topic, {"id", "result", "error"})
        id_ = request.get("id")
        task = self.tasks.get(id_) if type(id_) is int else None
        if task is None or task.consumer is None or task.consumer != msg.sender:
            raise LookupError(f"{topic}: task {request.get('id')!r} is not held by {msg.sender}")
        return task

    def on_ack(self, msg: Message) -> None:
        task = self.held(msg, "ack")
        result = json.dumps(msg.payload.get("result"), default=repr)[:MAX_PAYLOAD]
        self.finish(task, "done", result=result)
        self.replies.append((msg, True, False))

    def on_nack(self, msg: Message) -> None:
        task = self.held(msg, "nack")
        self.replies.append((msg, self.failed(task, str(msg.payload.get("error"))[:2000]), False))

    def on_stats(self, msg: Message) -> None:
        request = _mapping(msg.payload or {}, "stats", {"ids"})
        ids = request.get("ids")
        if ids is None:
            self.replies.append((msg, self.stats(), False))
            return
        if not (
            isinstance(ids, list | tuple) and len(ids) == 2 and all(type(i) is int for i in ids)
        ):
            raise ValueError(f"stats: ids must be [first, last], two ints, got {ids!r}")
        self.replies.append((msg, self.range_stats(ids[0], ids[1]), False))

    def on_dead(self, msg: Message) -> None:
        self.reads.append(msg)

    def finish(
        self, task: Task, state: str, *, result: str | None = None, error: str | None = None
    ) -> None:
        now = self.now()
        del self.tasks[task.id]
        self.counts[state] += 1
        self.finished.labels(state).inc()
        self.recent.append((task.id, state, now - task.enqueued_at))
        if state == "done":
            self.latency.observe(now - task.enqueued_at)
        self.ops.append(
            (
                "UPDATE tasks SET state = ?, finished_at = ?, result = ?, error = ? WHERE id = ?",
                (state, now, result, error, task.id),
            )
        )

    def failed(self, task: Task, error: str) -> dict[str, Any]:
        """An attempt failed: retry after the backoff, or mark the task dead."""
        if task.attempts >= task.max_attempts:
            self.finish(task, "dead", error=error)
            log.warning(
                "Task dead", id=task.id, function=task.function, attempts=task.attempts, error=error
            )
            return {"dead": True}
        delay = self.backoff.delay(task.attempts)
        task.consumer, task.due = None, trio.current_time() + delay
        heapq.heappush(self.ready, (task.due, task.id))
        self.counts["retried"] += 1
        self.finished.labels("retried").inc()
        self.ops.append(
            (
                "UPDATE tasks SET state = 'ready', run_at = ?, error = ? WHERE id = ?",
                (self.now() + delay, error, task.id),
            )
        )
        log.warning(
            "Task failed",
            id=task.id,
            function=task.function,
            attempt=task.attempts,
            retry_in=f"{delay:g}s",
            error=error,
        )
        return {"retry_in": delay}

    def consumer_exited(self, event: Exit) -> None:
        """A consumer ended: a crash or a kill fails the attempt of each task it held; a
        consumer that was stopped (a Cancel) hands its tasks back without using an attempt."""
        self.monitored.discard(event.pid)
        self.waiters = deque(w for w in self.waiters if w.msg.sender != event.pid)
        for task in [t for t in self.tasks.values() if t.consumer == event.pid]:
            if event.reason is actors.ExitReason.SHUTDOWN:
                task.attempts -= 1
                task.consumer, task.due = None, trio.current_time()
                heapq.heappush(self.ready, (task.due, task.id))
                self.ops.append(
                    (
                        "UPDATE tasks SET state = 'ready', attempts = ? WHERE id = ?",
                        (task.attempts, task.id),
                    )
                )
            else:
                self.failed(task, f"consumer {event.pid} exited ({event.reason.value})")

    def dispatch(self) -> None:
        """Hand due tasks to waiting consumers, oldest first; answer expired waits."""
        now = trio.current_time()
        while self.waiters and self.ready and self.ready[0][0] <= now:
            due, id_ = heapq.heappop(self.ready)
            task = self.tasks.get(id_)
            if task is None or task.consumer is not None or task.due != due:
                continue  # stale: finished, or re-queued with a later due time
            waiter = self.waiters.popleft()
            task.attempts += 1
            task.consumer = waiter.msg.sender
            self.ops.append(
                (
                    "UPDATE tasks SET state = 'taken', attempts = ? WHERE id = ?",
                    (task.attempts, id_),
                )
            )
            self.handed.append((waiter.msg, task))
        while self.waiters and self.waiters[0].expires <= now:
            self.replies.append((self.waiters.popleft().msg, None, False))
        expired = [w for w in self.waiters if w.expires <= now]  # waits of unequal length
        for waiter in expired:
            self.waiters.remove(waiter)
            self.replies.append((waiter.msg, None, False))

    def wake_at(self) -> float:
        """When a round is due without a message: a task due for a waiter, or a wait's end."""
        at = min((w.expires for w in self.waiters), default=math.inf)
        if self.waiters and self.ready:
            at = min(at, self.ready[0][0])
        return at

    async def commit(self) -> None:
        """Write the round's changes, then reply (a reply never gets ahead of the disk)."""
        if self.ops:
            ops, self.ops = self.ops, []
            await self.funcs.call("app:store.write", self.store, ops)
        replies, self.replies = self.replies, []
        for msg, value, is_error in replies:
            if is_error:
                self.proc.reply_error(msg, value)
            else:
                self.proc.reply(msg, value)
        handed, self.handed = self.handed, []
        for msg, task in handed:
            offer = {"id": task.id, "function": task.function, "attempt": task.attempts}
            if not self.proc.reply(msg, {**offer, "payload": json.loads(task.payload)}):
                # The consumer stopped waiting (its call timed out or it exited): put it back.
                task.attempts -= 1
                task.consumer = None
                heapq.heappush(self.ready, (task.due, task.id))
                self.ops.append(
                    (
                        "UPDATE tasks SET state = 'ready', attempts = ? WHERE id = ?",
                        (task.attempts, task.id),
                    )
                )
        reads, self.reads = self.reads, []
        for msg in reads:
            self.proc.reply(msg, await self.funcs.call("app:store.dead", self.store, 20))

    def stats(self) -> dict[str, Any]:
        """Tasks by state, counts since start (done and dead: ever), latency of recent acks."""
        now = trio.current_time()
        taken = sum(1 for t in self.tasks.values() if t.consumer is not None)
        due = sum(1 for t in self.tasks.values() if t.consumer is None and t.due <= now)
        return {
            "ready": due,
            "delayed": len(self.tasks) - taken - due,
            "taken": taken,
            **self.counts,
            "consumers_waiting": len(self.waiters),
            "latency_ms": _latency([s for _, state, s in self.recent if state == "done"]),
        }

    def range_stats(self, first: int, last: int) -> dict[str, Any]:
        """The tasks with ids in ``first..last``: pending, done and dead (of the most recent
        finished tasks), and their latency."""
        finished = [(state, s) for id_, state, s in self.recent if first <= id_ <= last]
        return {
            "pending": sum(1 for id_ in self.tasks if first <= id_ <= last),
            "done": sum(1 for state, _ in finished if state == "done"),
            "dead": sum(1 for state, _ in finished if state == "dead"),
            "latency_ms": _latency([s for state, s in finished if state == "done"]),
        }


def _latency(seconds: list[float]) -> dict[str, float]:
    """Percentiles (nearest rank) and maximum in milliseconds, and how many values."""
    ordered = sorted(seconds)
    summary = {f"p{q}": round(_quantile(ordered, q / 100) * 1000, 1) for q in (50, 90, 99)}
    return summary | {
        "max": round(ordered[-1] * 1000, 1) if ordered else 0.0,
        "count": len(ordered),
    }


def _quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile of sorted ``values`` (nearest rank), 0 for none."""
    if not values:
        return 0.0
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


def _mapping(payload: object, topic: str, keys: set[str]) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ValueError(f"{topic}: the payload must be a mapping, got {type(payload).__name__}")
    unknown = sorted(str(k) for k in payload if k not in keys)
    if unknown:
        raise ValueError(f"{topic}: unknown keys {unknown}; allowed: {sorted(keys)}")
    return payload


async def queue(proc: Process, path: str, config: dict[str, Any]) -> None:
    """The queue service: recover, then serve rounds of requests until cancelled."""
    proc.trap_cancel = True  # a Cancel lets the round in flight finish its commit
    app = current_app(proc)
    store = await app.funcs.call("app:store.open", db_file(proc, path))
    try:
        q = Queue(proc, store, config)
        requeued, pending, counts, last = await app.funcs.call("app:store.recover", store)
        q.load(pending, counts, last)
        log.info("Queue started", db=store.path, pending=len(pending), requeued=requeued, **counts)
        while True:
            with trio.move_on_at(q.wake_at()):
                got = await actors.select(proc.events, proc.inbox)
                for _ in range(BATCH):
                    if isinstance(got.value, Cancel):
                        log.info("Queue stopped", pending=len(q.tasks), **q.counts)
                        return
                    if isinstance(got.value, Exit):
                        q.consumer_exited(got.value)
                    elif isinstance(got.value, Message):
                        q.handle(got.value)
                    got = await actors.select(proc.events, proc.inbox, default=True)
                    if got.default:
                        break
            q.dispatch()
            await q.commit()
    finally:
        store.close()


async def consumer(proc: Process, wait: float = 5.0) -> None:
    """Take a task, run its function with ``(payload, attempt)``, ack or nack; repeat."""
    app = current_app(proc)
    while True:
        try:
            task = await proc.call(QUEUE, "take", {"wait": wait}, timeout=wait + 5)
        except (actors.ProcessNotFound, actors.CallFailed, actors.CallTimeout):
            await trio.sleep(0.2)  # the queue is (re)starting
            continue
        if task is None:
            continue
        try:
            result = await app.funcs.call(task["function"], task["payload"], task["attempt"])
        except Exception as exc:  # the task's failure, reported to the queue
            cause = exc.__cause__ or exc
            outcome = ("nack", {"id": task["id"], "error": repr(cause)})
        else:
            outcome = ("ack", {"id": task["id"], "result": result})
        try:
            await proc.call(QUEUE, *outcome)
        except (actors.ProcessNotFound, actors.CallFailed, actors.CallTimeout) as exc:
            # The queue restarted: it put the task back and will hand it out again.
            log.warning("Outcome not recorded", id=task["id"], topic=outcome[0], error=repr(exc))


async def producer(proc: Process) -> None:
    """The demo: a few tasks, one that succeeds at its third attempt and one that never does."""
    tasks: list[dict[str, Any]] = [
        *(
            {"function": "app:task.checksum", "payload": {"text": f"doc {i}", "rounds": 1000}}
            for i in range(3)
        ),
        *({"function": "app:task.sleep", "payload": {"ms": 200 * i}} for i in (1, 2)),
        {"function": "app:task.flaky", "payload": {"fail": 2}},
        {"function": "app:task.flaky", "payload": {"fail": 99}, "max_attempts": 3},
    ]
    ids = [await proc.call(QUEUE, "enqueue", task) for task in tasks]
    log.info("Demo enqueued", ids=",".join(map(str, ids)))


async def reporter(proc: Process, every: str = "2s") -> None:
    """Log the queue's stats when they change."""
    ticks = proc.ticker(every, buffer=1)
    last: dict[str, Any] = {}
    while True:
        got = await actors.select(proc.events, ticks)
        if isinstance(got.value, Cancel):
            return
        try:
            stats = await proc.call(QUEUE, "stats")
        except (actors.ProcessNotFound, actors.CallFailed, actors.CallTimeout):
            continue
        counts = {k: v for k, v in stats.items() if k != "latency_ms"}
        if counts != last:
            log.info("QUEUE", **counts, p99_ms=stats["latency_ms"]["p99"])
            last = counts


async def load(proc: Process) -> int:
    """Enqueue ``LOAD_TASKS`` tasks from ``LOAD_CALLERS`` callers; print throughput, latency."""
    env = current_app(proc).env
    try:
        total, callers = int(env.get("LOAD_TASKS")), int(env.get("LOAD_CALLERS"))
        function = str(env.get("LOAD_FUNCTION"))
    except registry.EnvError as error:
        print(f"load: {error}", file=sys.stderr)
        return 2
    for name, value, high in (("LOAD_TASKS", total, RECENT), ("LOAD_CALLERS", callers, 1000)):
        if not 1 <= value <= high:
            print(f"load: {name} must be in 1..{high}, got {value}", file=sys.stderr)
            return 2
    started = trio.current_time()
    shares = [total // callers + (i < total % callers) for i in range(callers)]
    pids = {proc.spawn_monitored(_enqueuer, function, n) for n in shares if n}
    ids: list[int] = []
    while len(pids) > 0:
        event = await proc.events.receive()
        if isinstance(event, Exit) and event.pid in pids:
            if event.error is not None:
                print(f"load: a caller failed: {event.error!r}", file=sys.stderr)
                return 1
            pids.discard(event.pid)
            ids.extend(event.result)
    enqueued = trio.current_time() - started
    print(
        f"enqueued {total} tasks in {enqueued:.2f} s ({total / max(enqueued, 1e-9):.0f}/s)"
        f" from {len(shares) - shares.count(0)} callers"
    )
    span = [min(ids), max(ids)]  # other tasks enqueued meanwhile may be in it: they count too
    while True:  # poll: the queue tells nobody when a range of tasks is finished
        stats = await proc.call(QUEUE, "stats", {"ids": span})
        if not stats["pending"]:
            break
        await trio.sleep(0.05)
    took = trio.current_time() - started
    lat = stats["latency_ms"]
    print(
        f"processed {stats['done'] + stats['dead']} tasks in {took:.2f} s"
        f" ({total / max(took, 1e-9):.0f}/s): done={stats['done']} dead={stats['dead']}"
    )
    print(
        f"latency (enqueue to ack) ms: p50={lat['p50']} p90={lat['p90']} p99={lat['p99']}"
        f" max={lat['max']}"
    )
    return 0


async def _enqueuer(proc: Process, function: str, count: int) -> list[int]:
    """Enqueue ``count`` tasks one call after another; return their ids."""
    payload = {"text": "load", "rounds": 10, "ms": 10, "fail": 0}
    return [
        await proc.call(QUEUE, "enqueue", {"function": function, "payload": payload})
        for _ in range(count)
    ]
