"""The task_queue example: a one-shot migration, a durable SQLite queue, a pool of consumers.

In the app, SQLite runs in worker threads (``blocking: true`` function entries). The in-process
tests boot the app as it is: on the autojump clock a call in a worker thread takes no virtual
time (``actors.run_sync_in_thread`` holds the autojump off while it waits), so no call timeout
fires during a write that takes a millisecond. The command-line tests run it in real time.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import actors
import helpers
import programs
import registry

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "examples" / "task_queue"


def boot(node: actors.Node, db: Path | str, **environ: str) -> Any:
    """Boot the app on ``node`` with its database at ``db``."""
    plan = registry.load_app(APP, environ={"TASK_DB": str(db), **environ})
    return registry.boot_app(node, plan)


def rows(db: Path) -> dict[int, tuple[Any, ...]]:
    """id -> (function, state, attempts, error) as stored."""
    with sqlite3.connect(db) as conn:
        found = conn.execute("SELECT id, function, state, attempts, error FROM tasks")
        return {row[0]: row[1:] for row in found}


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "app.tasks"]


async def until(check: Any, *, limit: float = 60) -> None:
    """Sleep in virtual time until ``check()`` is true."""
    with trio.fail_after(limit):
        while True:  # polls the queue's stats: it tells nobody when it goes idle
            if await check():
                return
            await trio.sleep(0.1)


async def finished(node: actors.Node, count: int) -> bool:
    stats = await node.call("app:queue", "stats")
    return bool(stats["done"] + stats["dead"] >= count)


async def idle(node: actors.Node) -> bool:
    stats = await node.call("app:queue", "stats")
    return bool(stats["ready"] + stats["delayed"] + stats["taken"] == 0)


class TestVirtualTime:
    async def test_demo_retries_then_marks_dead(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The migration runs first; the demo's tasks are done, one after two failures, and the
        one that always fails is dead after its 3 attempts, with doubling delays."""
        caplog.set_level(logging.INFO)
        db = tmp_path / "tasks.db"
        async with actors.open_node() as node:
            app = await boot(node, str(db))
            await until(lambda: finished(node, 7))
            stats = await node.call("app:queue", "stats")
            assert {k: stats[k] for k in ("done", "dead", "retried", "enqueued")} == {
                "done": 6,
                "dead": 1,
                "retried": 4,
                "enqueued": 7,
            }
            (dead,) = await node.call("app:queue", "dead")
            assert dead["function"] == "app:task.flaky" and dead["attempts"] == 3
            assert "attempt 3 fails" in dead["error"]
            states = {s.name: s.state.value for s in await app.services.statuses()}
            assert states["app:migration"] == "exited" and states["app:queue"] == "running"
        stored = rows(db)
        assert sorted(state for _, state, _, _ in stored.values()) == ["dead"] + ["done"] * 6
        flaky = [r for r in stored.values() if r[0] == "app:task.flaky"]
        assert sorted((state, attempts) for _, state, attempts, _ in flaky) == [
            ("dead", 3),
            ("done", 3),
        ]
        lines = messages(caplog)
        first = next(i for i, line in enumerate(lines) if line.startswith("Migrated"))
        assert first < next(i for i, line in enumerate(lines) if line.startswith("Queue started"))
        retries = [re.search(r"attempt=(\d) retry_in=(\S+)", x) for x in lines]
        delays = sorted((m.group(1), m.group(2)) for m in retries if m)
        assert delays == [("1", "0.5s"), ("1", "0.5s"), ("2", "1s"), ("2", "1s")]

    async def test_restart_requeues_taken_tasks(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Tasks taken when the app stops are put back at the next start and run again; the
        first attempt counts; tasks are never lost."""
        caplog.set_level(logging.INFO)
        env = {"TASK_DB": str(tmp_path / "tasks.db")}
        async with actors.open_node() as node:
            await boot(node, env["TASK_DB"])
            task = {"function": "app:task.sleep", "payload": {"ms": 60_000}}
            long_ids = [await node.call("app:queue", "enqueue", task) for _ in range(2)]

            async def both_taken() -> bool:
                stored = rows(tmp_path / "tasks.db")
                return all(stored[i][1] == "taken" for i in long_ids)

            await until(both_taken)
        before = rows(tmp_path / "tasks.db")
        assert all(before[i][1:3] == ("taken", 1) for i in long_ids)
        taken = sum(1 for r in before.values() if r[1] == "taken")
        async with actors.open_node() as node:
            await boot(node, env["TASK_DB"])
            await until(lambda: finished(node, 16), limit=300)  # 7 + 2, then 7 more
        after = rows(tmp_path / "tasks.db")
        assert all(after[i][1:3] == ("done", 2) for i in long_ids)
        assert sorted(s for _, s, _, _ in after.values()) == ["dead"] * 2 + ["done"] * 14
        started = [x for x in messages(caplog) if x.startswith("Queue started")]
        assert re.search(rf"requeued={taken}\b", started[1]), started

    async def test_a_consumer_that_dies_fails_its_attempt(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A consumer killed while it holds a task: the attempt fails and the task is retried
        by another consumer (the pool restarts the dead one)."""
        caplog.set_level(logging.INFO)
        db = tmp_path / "tasks.db"
        async with actors.open_node() as node:
            await boot(node, str(db))
            await until(lambda: finished(node, 7))
            task = {"function": "app:task.sleep", "payload": {"ms": 3000}, "max_attempts": 2}
            id_ = await node.call("app:queue", "enqueue", task)

            async def taken() -> bool:
                return bool(rows(db)[id_][1] == "taken")

            await until(taken)
            for pid in actors.pool("app:consumers", node).workers():
                assert pid is not None
                node.terminate(pid)
            await until(lambda: finished(node, 8))
        assert rows(db)[id_][1:3] == ("done", 2)
        (failed,) = [
            x for x in messages(caplog) if x.startswith("Task failed") and f"id={id_} " in x
        ]
        assert re.search(r"error=\"consumer \{\S+\} exited \(error\)\"", failed), failed

    async def test_a_stopped_consumer_hands_its_task_back(self, tmp_path: Path) -> None:
        """A consumer cancelled while it runs a task (a stop, not a crash): the task is ready
        again and the attempt is not counted."""
        db = tmp_path / "tasks.db"
        async with actors.open_node() as node:
            await boot(node, str(db))
            await until(lambda: finished(node, 7))
            task = {"function": "app:task.sleep", "payload": {"ms": 60_000}, "max_attempts": 1}
            id_ = await node.call("app:queue", "enqueue", task)

            async def taken() -> bool:
                return bool(rows(db)[id_][1] == "taken")

            await until(taken)
            for pid in actors.pool("app:consumers", node).workers():
                assert pid is not None
                node.cancel(pid)

            async def back() -> bool:
                return bool(rows(db)[id_][1:3] == ("ready", 0))

            await until(back)

    async def test_bad_requests_fail_the_call_only(self, tmp_path: Path) -> None:
        """Each bad request fails its call with a message naming the field; the queue runs on."""
        async with actors.open_node() as node:
            await boot(node, str(tmp_path / "t.db"))
            cases: list[tuple[str, Any, str]] = [
                ("enqueue", {"function": "app:migrate"}, "is not a task (tasks: app:task."),
                ("enqueue", {"function": ["app:task.sleep"]}, "is not a task"),
                ("enqueue", {"function": "app:task.sleep", "payload": {1, 2}}, "not JSON"),
                ("enqueue", {"function": "app:task.sleep", "payload": float("nan")}, "not JSON"),
                ("enqueue", {"function": "app:task.sleep", "payload": "x" * 70_000}, "max 65536"),
                ("enqueue", {"function": "app:task.sleep", "max_attempts": 0}, "1..100, got 0"),
                ("enqueue", {"function": "app:task.sleep", "priority": 1}, "unknown keys"),
                ("enqueue", ["app:task.sleep"], "must be a mapping, got list"),
                ("take", {"wait": 61}, "wait must be seconds in 0..60"),
                ("ack", {"id": 1}, "task 1 is not held by"),
                ("nack", {"id": [1]}, "task [1] is not held by"),
                ("take", {"wait": "5"}, "wait must be seconds"),
                ("stats", {"ids": [1]}, "ids must be [first, last]"),
                ("purge", None, "unknown topic 'purge'; topics: enqueue, take"),
            ]
            for topic, payload, needle in cases:

                async def ask(
                    proc: actors.Process, topic: str = topic, payload: Any = payload
                ) -> Any:
                    return await proc.call("app:queue", topic, payload)

                with pytest.raises(actors.CallFailed) as caught:
                    await node.exec(ask)  # from a process: a take needs one
                assert needle in str(caught.value.__cause__), (topic, caught.value.__cause__)
            with pytest.raises(actors.CallFailed, match="only a process's call can take"):
                await node.call("app:queue", "take")
            assert isinstance(await node.call("app:queue", "stats"), dict)

    @pytest.mark.parametrize(
        ("environ", "error"),
        [
            ({"LOAD_TASKS": "many"}, "env variable LOAD_TASKS (app:load_tasks): 'many' is not an"),
            ({"LOAD_TASKS": "0"}, "LOAD_TASKS must be in 1..100000, got 0"),
            ({"LOAD_CALLERS": "5000"}, "LOAD_CALLERS must be in 1..1000, got 5000"),
        ],
    )
    async def test_load_refuses_bad_settings(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        environ: dict[str, str],
        error: str,
    ) -> None:
        """A bad LOAD_* setting: one line naming it on stderr, status 2, nothing enqueued."""
        async with actors.open_node() as node:
            app = await boot(node, tmp_path / "t.db", **environ)
            await until(lambda: finished(node, 7))  # the demo's tasks
            assert await node.exec(app.process("app:load")) == 2
            assert (await node.call("app:queue", "stats"))["enqueued"] == 7  # the demo's
        assert f"load: {error}" in capsys.readouterr().err

    async def test_small_load_in_process(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The load generator enqueues its tasks from its callers and waits for all of them."""
        async with actors.open_node() as node:
            app = await boot(node, tmp_path / "t.db", LOAD_TASKS="50", LOAD_CALLERS="7")
            await until(lambda: finished(node, 7))  # the demo's tasks
            assert await node.exec(app.process("app:load")) == 0
            stats = await node.call("app:queue", "stats")
        out = capsys.readouterr().out.splitlines()
        assert re.fullmatch(r"enqueued 50 tasks in [\d.]+ s \(\d+/s\) from 7 callers", out[0])
        assert re.match(r"processed \d+ tasks in", out[1]) and stats["enqueued"] == 57

    def test_migration_refuses_a_newer_schema(self, tmp_path: Path) -> None:
        """The migration creates the schema once, then does nothing; a newer one is an error."""
        store = _module("store")
        db = str(tmp_path / "sub" / "t.db")
        assert store.migrate(db) == 0
        assert store.migrate(db) == store.SCHEMA_VERSION
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA user_version = 99")
        with pytest.raises(RuntimeError, match=r"schema version 99 is newer than this code's 1"):
            store.migrate(db)
        with pytest.raises(RuntimeError, match=r"schema version 99, expected 1"):
            store.Store(db)


def _module(name: str) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_tq_{name}", APP / "src" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
not_json = st.sets(st.integers(), min_size=1) | st.binary(min_size=1) | st.just(float("inf"))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(json_values, not_json.map(lambda v: ("bad", v))), max_size=6))
def test_any_payload_is_delivered_as_sent_or_refused(payloads: list[Any]) -> None:
    """A JSON payload reaches the task function equal to what was enqueued; anything else is
    refused at ``enqueue`` with a ValueError; the queue never crashes."""
    import tempfile

    async def main() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            async with actors.open_node() as node:
                await boot(node, f"{tmp}/t.db")
                queue = node.lookup("app:queue")
                for payload in payloads:
                    if isinstance(payload, tuple):
                        with pytest.raises(actors.CallFailed) as caught:
                            await node.call("app:queue", "enqueue", _echo(payload[1]))
                        assert isinstance(caught.value.__cause__, ValueError)
                    else:
                        id_ = await node.call("app:queue", "enqueue", _echo(payload))
                        await until(lambda: idle(node))
                        with sqlite3.connect(f"{tmp}/t.db") as conn:
                            (result,) = conn.execute(
                                "SELECT result FROM tasks WHERE id = ?", (id_,)
                            ).fetchone()
                        assert json.loads(result) == json.loads(json.dumps(payload))
                assert node.lookup("app:queue") == queue

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
request_keys = ("id", "wait", "ids", "function", "payload", "max_attempts", "result", "error")
requests = st.tuples(
    st.sampled_from(("enqueue", "take", "ack", "nack", "stats", "dead", "other")),
    anything | st.dictionaries(st.sampled_from(request_keys), anything, max_size=4),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(requests, min_size=1, max_size=8))
def test_any_request_is_answered_and_the_queue_runs_on(batch: list[tuple[str, Any]]) -> None:
    """Whatever the topic and payload, a call gets a reply or ``CallFailed`` whose cause is a
    ValueError or LookupError naming the problem; the queue process never crashes."""
    import tempfile

    async def main() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            async with actors.open_node() as node:
                await boot(node, f"{tmp}/t.db")
                queue = node.lookup("app:queue")
                causes: list[BaseException | None] = []
                for topic, payload in batch:

                    async def ask(proc: actors.Process, t: str = topic, p: Any = payload) -> Any:
                        return await proc.call("app:queue", t, p, timeout=70)

                    causes.append(None)
                    try:
                        await node.exec(ask)
                    except actors.CallFailed as failed:
                        causes[-1] = failed.__cause__
                assert all(c is None or isinstance(c, ValueError | LookupError) for c in causes)
                assert node.lookup("app:queue") == queue

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def _echo(payload: Any) -> dict[str, Any]:
    return {"function": "app:task.echo", "payload": payload}


@pytest.mark.slow
class TestCommandLine:
    def test_load_generator(self, tmp_path: Path) -> None:
        """``actors run examples/task_queue -x app:load``: every task is processed, the
        throughput and latency are printed, exit 0."""
        done = programs.run_program(
            APP, "app:load", env={"TASK_DB": str(tmp_path / "t.db"), "LOAD_TASKS": "300"}
        )
        assert programs.clean_exit(done), done.stderr
        out = done.stdout.splitlines()
        assert re.fullmatch(r"enqueued 300 tasks in [\d.]+ s \(\d+/s\) from 20 callers", out[0])
        assert re.fullmatch(r"processed \d+ tasks in [\d.]+ s \(\d+/s\): done=\d+ dead=\d", out[1])
        assert re.fullmatch(r"latency \(enqueue to ack\) ms: p50=[\d.]+ p90=.* max=[\d.]+", out[2])
        assert int(re.search(r"done=(\d+)", out[1]).group(1)) >= 300  # type: ignore[union-attr]
        stored = rows(tmp_path / "t.db")
        assert sum(1 for r in stored.values() if r[1] == "done") >= 300
        assert not any(
            r[1] in ("ready", "taken") and r[0] == "app:task.checksum" for r in stored.values()
        )

    def test_run_inspect_with_actors_call_and_ctrl_c(self, tmp_path: Path) -> None:
        """While it runs, ``actors call --app ... app:queue stats`` prints the counts as JSON;
        Ctrl+C exits 0."""
        replies: list[Any] = []

        def ask(seen: list[str]) -> bool:
            if not any("Task dead" in line for line in seen):
                return False
            command = [
                sys.executable,
                "-m",
                "registry._cli",
                "call",
                "--app",
                str(APP),
                "app:queue",
                "stats",
            ]
            done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True)
            replies.append(json.loads(done.stdout))
            return True

        code, out = helpers.run_app_until(APP, ask, env={"TASK_DB": str(tmp_path / "t.db")})
        assert code == 0, out
        assert "Traceback" not in "\n".join(out)
        assert replies[0]["dead"] == 1 and replies[0]["enqueued"] == 7
        assert re.fullmatch(r"INFO  App stopped\s+clean=true", out[-1])
