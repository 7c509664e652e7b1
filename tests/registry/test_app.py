"""Tests for app boot: load_app, boot_app, current_app and App.process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

import actors
import registry
from registry import App, IndexFileError, ResolveError

Write = Callable[..., Path]

PROCS = """
from __future__ import annotations

import actors
import registry

log: list = []


async def main(proc, *args):
    app = registry.current_app(proc)
    log.append((proc.pid.seq, proc.pid.host, args, app.env.get("GREETING")))
    while not isinstance(await proc.events.receive(), actors.Cancel):
        pass
    log.append(("stopped", args))


async def crash(proc):
    raise RuntimeError("boom")


def helper():
    return "helped"


def not_async(proc):
    return None
"""

INDEX = """
version: "1.0"
namespace: app
entries:
  - name: pool
    kind: host
    host: {max_processes: 3}
  - name: os
    kind: env.storage.os
  - name: greeting
    kind: env.variable
    variable: GREETING
    storage: os
    default: hello
  - name: proc
    kind: process
    source: file://procs.py
  - name: helper
    kind: function
    source: file://procs.py
    method: helper
  - name: db
    kind: service
    process: proc
    host: pool
    input: [db, 1]
    lifecycle: {auto_start: true}
  - name: api
    kind: service
    process: proc
    input: [api]
    lifecycle:
      auto_start: true
      requires: [db]
      stop_timeout: 2s
      restart: {initial_delay: 500ms, max_delay: 4s, backoff_factor: 3, jitter: 0, max_attempts: 4}
  - name: manual
    kind: service
    process: proc
"""


@pytest.fixture(name="app_dir")
def _app_dir(write: Write) -> Path:
    write("app/src/_index.yaml", INDEX)
    write("app/src/procs.py", PROCS)
    return write("app/src/procs.py", PROCS).parent.parent


def _log(app: App) -> list[Any]:
    module = app.process("app:proc").__globals__
    result: list[Any] = module["log"]
    return result


class TestLoadApp:
    """load_app checks everything and builds the plan, starting nothing."""

    def test_plan(self, app_dir: Path) -> None:
        """The plan has the src folder, hosts, callables and one spec per service."""
        plan = registry.load_app(app_dir, environ={})
        assert plan.root == app_dir / "src"
        assert plan.hosts == (("app:pool", 3),)
        assert sorted(e.id for e in plan.callables) == ["app:helper", "app:proc"]
        specs = {spec.name: spec for spec in plan.services}
        assert sorted(specs) == ["app:api", "app:db", "app:manual"]
        api = specs["app:api"]
        assert api.requires == ("app:db",)
        assert api.args == ("api",)
        assert api.auto_start is True
        assert api.stop_timeout == 2.0
        assert api.host is None
        assert api.backoff == actors.Backoff(
            initial=0.5, factor=3.0, max_delay=4.0, jitter=0.0, max_attempts=4
        )
        assert specs["app:db"].host == "app:pool"
        assert specs["app:db"].args == ("db", 1)
        assert specs["app:manual"].auto_start is False

    def test_index_at_the_top(self, write: Write) -> None:
        """Without src/_index.yaml the folder itself is the root."""
        write("flat/_index.yaml", 'version: "1.0"\nnamespace: app\nentries: []\n')
        plan = registry.load_app(write("flat/x.txt", "").parent)
        assert plan.root.name == "flat"
        assert plan.entries == ()

    def test_every_resolve_problem_is_listed(self, write: Write) -> None:
        """Bad imports, missing methods and sync processes are all reported, with file and entry."""
        index = write(
            "bad/_index.yaml",
            """
            version: "1.0"
            namespace: app
            entries:
              - {name: a, kind: process, source: "no_such_module_xyz:main"}
              - {name: b, kind: process, source: file://procs.py, method: nope}
              - {name: c, kind: process, source: file://procs.py, method: not_async}
              - {name: d, kind: function, source: file://procs.py, method: missing}
            """,
        )
        write("bad/procs.py", PROCS)
        with pytest.raises(IndexFileError) as info:
            registry.load_app(index.parent)
        text = str(info.value)
        assert text.startswith("4 problems in index files:")
        assert (
            f"- {index}, entry app:a, field source: cannot import module 'no_such_module_xyz'"
            in (text)
        )
        assert f"- {index}, entry app:b, field source: file://procs.py has no attribute 'nope'" in (
            text
        )
        needle = "field method: process function file://procs.py:not_async is not an"
        assert f"- {index}, entry app:c, {needle}" in text
        assert f"- {index}, entry app:d, field source: file://procs.py has no attribute" in text

    def test_not_a_directory(self, tmp_path: Path) -> None:
        """A missing folder is an IndexFileError naming it."""
        with pytest.raises(IndexFileError, match="is not a directory"):
            registry.load_app(tmp_path / "nope")


class TestBootApp:
    """boot_app declares hosts and starts services in dependency order."""

    async def test_services_start_in_order_with_their_inputs(self, app_dir: Path) -> None:
        """Auto-start services run on their hosts with their inputs; manual ones wait."""
        async with actors.open_node() as node:
            app = await registry.boot_app(node, app_dir, environ={})
            await trio.sleep(0.1)
            log = _log(app)
            started = sorted(log)  # by PID: the spawn order
            assert [entry[1:] for entry in started] == [
                ("app:pool", ("db", 1), "hello"),
                ("main", ("api",), "hello"),
            ]
            assert [h.name for h in node.hosts()] == ["main", "app:pool"]
            assert node.hosts()[1].max_processes == 3
            assert app.services is not None
            states = {s.name: s.state.value for s in await app.services.statuses()}
            assert states == {"app:api": "running", "app:db": "running", "app:manual": "stopped"}
        assert log[2:] == [("stopped", ("api",)), ("stopped", ("db", 1))]  # reverse order

    async def test_ready_service_starts_its_dependents_once_ready(self, write: Write) -> None:
        """``lifecycle.ready: true``: what requires it starts after ``notify_ready``, not at its
        spawn; a one-shot service that then returns is ``exited`` and its dependents run on."""
        write(
            "oneshot/src/procs.py",
            """
import trio
import actors

log = []

async def migrate(proc):
    log.append(("migrate", trio.current_time()))
    await trio.sleep(2)  # the work its dependents need done
    log.append(("migrated", trio.current_time()))
    actors.notify_ready(proc)

async def serve(proc):
    log.append(("serve", trio.current_time()))
    await proc.events.receive()
""",
        )
        root = write(
            "oneshot/src/_index.yaml",
            """
version: "1.0"
namespace: app
entries:
  - {name: migrate_process, kind: process, source: file://procs.py, method: migrate}
  - {name: serve_process, kind: process, source: file://procs.py, method: serve}
  - name: migration
    kind: service
    process: migrate_process
    lifecycle: {auto_start: true, ready: true, start_timeout: 5s}
  - name: api
    kind: service
    process: serve_process
    lifecycle: {auto_start: true, requires: [migration]}
""",
        ).parent.parent
        plan = registry.load_app(root)
        assert {s.name: s.ready for s in plan.services} == {"app:api": False, "app:migration": True}
        async with actors.open_node() as node:
            t0 = trio.current_time()
            app = await registry.boot_app(node, plan)
            await trio.sleep(1)
            log = app.process("app:migrate_process").__globals__["log"]
            assert [(what, at - t0) for what, at in log] == [
                ("migrate", 0.0),
                ("migrated", 2.0),
                ("serve", 2.0),
            ]
            states = {s.name: s.state.value for s in await app.services.statuses()}
            assert states == {"app:api": "running", "app:migration": "exited"}

    async def test_current_app(self, app_dir: Path) -> None:
        """current_app finds the app from the node, a process, or the current node."""
        async with actors.open_node() as node:
            with pytest.raises(RuntimeError, match="no app is booted"):
                registry.current_app()
            app = await registry.boot_app(node, app_dir, environ={})
            assert registry.current_app() is app
            assert registry.current_app(node) is app
            assert await node.exec(_current) is app
            assert app.registry.get("app:db").kind == "service"
            assert await app.funcs.call("app:helper") == "helped"
            assert repr(app).startswith("<App ")

    async def test_env_uses_the_given_environ(self, app_dir: Path) -> None:
        """The env reads the environ given to boot_app."""
        async with actors.open_node() as node:
            app = await registry.boot_app(node, app_dir, environ={"GREETING": "hi"})
            await trio.sleep(0.1)
            assert _log(app)[0][3] == "hi"

    async def test_boot_twice_on_one_node(self, app_dir: Path) -> None:
        """A second app on the same node is refused."""
        async with actors.open_node() as node:
            await registry.boot_app(node, app_dir, environ={})
            with pytest.raises(RuntimeError, match="already booted"):
                await registry.boot_app(node, app_dir, environ={})

    async def test_boot_a_plan(self, app_dir: Path) -> None:
        """boot_app accepts a plan from load_app."""
        plan = registry.load_app(app_dir, environ={})
        async with actors.open_node() as node:
            app = await registry.boot_app(node, plan)
            assert app.root == plan.root

    async def test_bad_app_starts_nothing(self, write: Write) -> None:
        """A load error is raised before any process is spawned."""
        index = write(
            "bad/_index.yaml",
            """
            version: "1.0"
            namespace: app
            entries:
              - {name: p, kind: process, source: "no_such_module_xyz:main"}
              - {name: s, kind: service, process: p, lifecycle: {auto_start: true}}
            """,
        )
        async with actors.open_node() as node:
            with pytest.raises(IndexFileError, match="entry app:p"):
                await registry.boot_app(node, index.parent)
            assert node.processes() == []


class TestProcess:
    """App.process resolves process entries by id."""

    async def test_process_by_id(self, app_dir: Path) -> None:
        """Known process entries resolve; other kinds and unknown ids raise."""
        async with actors.open_node() as node:
            app = await registry.boot_app(node, app_dir, environ={})
            fn = app.process("app:proc")
            assert fn is app.process("app:proc")
            with pytest.raises(ResolveError, match="app:helper is a function, not a process"):
                app.process("app:helper")
            with pytest.raises(registry.EntryNotFoundError):
                app.process("app:nope")

    async def test_process_added_later(self, app_dir: Path) -> None:
        """A process entry created at run time is resolved on first use."""

        async def extra(proc: actors.Process) -> str:
            return "extra"

        async with actors.open_node() as node:
            app = await registry.boot_app(node, app_dir, environ={})
            app.registry.changes().create(registry.process_entry("app:extra", extra)).apply()
            assert await node.exec(app.process("app:extra")) == "extra"


async def _current(proc: actors.Process) -> App:
    return registry.current_app(proc)
