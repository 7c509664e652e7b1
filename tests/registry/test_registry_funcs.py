"""Tests for resolve_callable and funcs.call: import paths, file sources, threads and errors."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from registry import (
    Entry,
    EntryNotFoundError,
    Funcs,
    FunctionCallError,
    Registry,
    ResolveError,
    data_entry,
    funcs,
    function_entry,
    load_dir,
    process_entry,
    resolve_callable,
)

Write = Callable[[str, str], Path]

JOBS = """
import threading

calls = []

def heartbeat():
    calls.append("heartbeat")
    return "ok"

async def cleanup(n):
    return f"{n} files removed"

def which_thread():
    return threading.current_thread().name

def fail():
    raise ValueError("disk full")

class Jobs:
    @staticmethod
    def report():
        return "cpu=92%"

not_callable = 3
"""

INDEX = """
version: "1.0"
namespace: app
entries:
  - {name: job.heartbeat, kind: function, source: file://jobs.py, method: heartbeat}
  - {name: job.cleanup, kind: function, source: file://jobs.py, method: cleanup}
  - {name: job.thread, kind: function, source: file://jobs.py, method: which_thread,
     blocking: true}
  - {name: job.loop_thread, kind: function, source: file://jobs.py, method: which_thread}
  - {name: job.fail, kind: function, source: file://jobs.py, method: fail}
  - {name: job.report, kind: function, source: file://jobs.py, method: Jobs.report}
  - {name: worker, kind: process, source: file://jobs.py, method: heartbeat}
  - {name: config, kind: registry.entry}
"""


@pytest.fixture(name="registry")
def _registry(write: Write, tmp_path: Path) -> Registry:
    write("app/_index.yaml", INDEX)
    write("app/jobs.py", JOBS)
    return Registry.from_entries(load_dir(tmp_path, environ={}))


class TestResolveCallable:
    """resolve_callable finds the function behind an entry, or names what is wrong."""

    def test_file_source_is_relative_to_the_index_file_and_shared(self, registry: Registry) -> None:
        """Two entries using jobs.py get functions from one module object."""
        heartbeat = resolve_callable(registry.get("app:job.heartbeat"))
        report = resolve_callable(registry.get("app:job.report"))
        assert heartbeat() == "ok"
        assert report() == "cpu=92%"
        assert heartbeat.__globals__ is resolve_callable(registry.get("app:worker")).__globals__

    def test_import_path(
        self, write: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """module:function and module + method import with importlib."""
        write("regtest_mod.py", "def main():\n    return 'main'\ndef other():\n    return 'o'\n")
        monkeypatch.syspath_prepend(str(tmp_path))
        assert resolve_callable(process_entry("app:a", "regtest_mod:other"))() == "o"
        assert resolve_callable(process_entry("app:b", "regtest_mod"))() == "main"

    def test_callable_source(self) -> None:
        """An entry built in code may hold the callable itself."""
        assert resolve_callable(function_entry("app:f", len)) is len

    @pytest.mark.parametrize(
        ("entry", "message"),
        [
            (
                data_entry("app:d"),
                "entry app:d is a registry.entry, not a process or function; it has no callable",
            ),
            (Entry("app:p", "process"), "entry app:p has no source to load a callable from"),
            (
                process_entry("app:p", "regtest_missing_module"),
                "entry app:p: cannot import "
                "module 'regtest_missing_module': ModuleNotFoundError: No module named "
                "'regtest_missing_module'",
            ),
            (
                process_entry("app:p", "registry:nothing_here"),
                "entry app:p: registry has no attribute 'nothing_here'",
            ),
            (
                process_entry("app:p", "registry:KINDS"),
                "entry app:p: registry:KINDS is a tuple, not callable",
            ),
        ],
    )
    def test_errors(self, entry: Entry, message: str) -> None:
        """Each error names the entry and the bad path."""
        with pytest.raises(ResolveError) as caught:
            resolve_callable(entry)
        assert str(caught.value) == message

    def test_file_errors(self, write: Write, tmp_path: Path) -> None:
        """Missing files, syntax errors (kept as __cause__) and missing methods."""
        index = str(tmp_path / "_index.yaml")
        missing = Entry("app:a", "process", data={"source": "file://gone.py"}, origin=index)
        with pytest.raises(ResolveError) as caught:
            resolve_callable(missing)
        assert str(caught.value) == (
            f"entry app:a: source file {str(tmp_path / 'gone.py')!r} does not exist"
        )
        write("broken.py", "def (:\n")
        broken = Entry("app:b", "process", data={"source": "file://broken.py"}, origin=index)
        with pytest.raises(
            ResolveError,
            match=r"^entry app:b: loading .*broken.py' failed: "
            r"SyntaxError: ",
        ) as caught:
            resolve_callable(broken)
        assert isinstance(caught.value.__cause__, SyntaxError)
        write("ok.py", "x = 1\n")
        no_main = Entry("app:c", "process", data={"source": "file://ok.py"}, origin=index)
        with pytest.raises(
            ResolveError,
            match=r"^entry app:c: file://ok.py has no attribute "
            r"'main'$",
        ):
            resolve_callable(no_main)


class TestCall:
    """funcs.call and Funcs run function entries and wrap their errors."""

    async def test_sync_and_async_functions(self, registry: Registry) -> None:
        """Sync functions are called, async ones awaited, arguments passed through."""
        assert await funcs.call(registry, "app:job.heartbeat") == "ok"
        assert await funcs.call(registry, "app:job.cleanup", 7) == "7 files removed"

    async def test_blocking_functions_run_in_a_thread(self, registry: Registry) -> None:
        """blocking: true moves the call off the trio thread; otherwise it stays on it."""
        main = threading.current_thread().name
        assert await funcs.call(registry, "app:job.thread") != main
        assert await funcs.call(registry, "app:job.loop_thread") == main

    async def test_error_is_wrapped_with_the_entry_id(self, registry: Registry) -> None:
        """FunctionCallError names the entry; the original is the __cause__."""
        with pytest.raises(
            FunctionCallError, match=r"^function app:job.fail raised ValueError: disk full$"
        ) as caught:
            await funcs.call(registry, "app:job.fail")
        assert isinstance(caught.value.__cause__, ValueError)
        assert caught.value.entry_id == "app:job.fail"

    async def test_unknown_id_and_wrong_kind(self, registry: Registry) -> None:
        """An unknown id is EntryNotFoundError; a non-function entry is ResolveError."""
        with pytest.raises(EntryNotFoundError, match=r"^no entry with id 'app:nope'"):
            await funcs.call(registry, "app:nope")
        with pytest.raises(
            ResolveError, match=r"^entry app:worker is a process, not a function; cannot call it$"
        ):
            await funcs.call(registry, "app:worker")

    async def test_async_function_marked_blocking_is_refused(self) -> None:
        """An async function cannot run in a thread."""

        async def job() -> None:
            pass

        registry = Registry.from_entries([function_entry("app:j", job, blocking=True)])
        with pytest.raises(ResolveError, match=r"^entry app:j says blocking: true but "):
            await funcs.call(registry, "app:j")

    async def test_cancellation_is_not_wrapped(self, autojump_clock: trio.abc.Clock) -> None:
        """Cancelling the caller cancels an async function; no FunctionCallError appears."""

        async def forever() -> None:
            await trio.sleep_forever()

        registry = Registry.from_entries([function_entry("app:f", forever)])
        with trio.move_on_after(1) as scope:
            await funcs.call(registry, "app:f")
        assert scope.cancelled_caught

    async def test_funcs_object_caches_and_follows_updates(self) -> None:
        """Funcs sees entry updates of its live registry."""
        registry = Registry.from_entries([function_entry("app:f", lambda: 1)])
        bound = Funcs(registry)
        assert await bound.call("app:f") == 1
        assert await bound.call("app:f") == 1
        registry.changes().update(function_entry("app:f", lambda: 2)).apply()
        assert await bound.call("app:f") == 2
