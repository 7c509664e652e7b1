"""Signatures checked at load: each callable must take what it will be called with.

A process is called ``fn(proc, *input)``, a ``cron.job`` function with no arguments. A mismatch
is an exit 2 of ``actors run`` naming the file, the entry and the signature found, before
anything starts (it used to load, then crash-loop).
"""

from __future__ import annotations

import argparse
import functools
import io
import keyword
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import actors
import registry
from registry._app import run_app_cli
from registry._signatures import function_problem, process_problem, server_process

Write = Callable[..., Path]

CODE = """
import functools
import actors

async def no_proc():
    pass

async def takes_proc(proc):
    pass

async def needs_two(proc, a, b=1):
    pass

async def variadic(*args, **kwargs):
    pass

async def keyword_only(proc, *, mode):
    pass

async def agen(proc):
    yield 1

def sync_proc(proc):
    pass

class AsyncCallable:
    async def __call__(self, proc, x):
        pass

callable_object = AsyncCallable()
callable_class = AsyncCallable
partial_proc = functools.partial(needs_two, b=2)

def tick():
    return 1

def tick_default(x=1):
    return x

def tick_required(x):
    return x

def tick_variadic(*args):
    return args

def gen_tick():
    yield 1

async def async_tick():
    return 1

class Counter(actors.Server):
    def __init__(self, start):
        self.count = start

    async def handle_call(self, message):
        self.count += message.payload
        return self.count
"""


def app(write: Write, *entries: str) -> Path:
    """An app folder with ``jobs.py`` (the functions above) and the given entries."""
    write("app/jobs.py", CODE)
    lines = ['version: "1.0"', "namespace: app", "entries:", *(f"  - {e}" for e in entries)]
    return write("app/_index.yaml", "\n".join(lines) + "\n").parent


def proc_entry(name: str, method: str) -> str:
    return f"{{name: {name}, kind: process, source: file://jobs.py, method: {method}}}"


def job_entry(name: str, method: str, extra: str = "") -> str:
    return (
        f"{{name: {name}, kind: function, source: file://jobs.py, method: {method}, "
        f"meta: {{type: cron.job, interval: 1s}}{extra}}}"
    )


def run(folder: Path) -> tuple[int, str]:
    out = io.StringIO()
    args = argparse.Namespace(dir=str(folder), grace=None, log_level="INFO")
    code = run_app_cli(args, stderr=out, clock=trio.testing.MockClock(autojump_threshold=0))
    return code, out.getvalue()


def refused(folder: Path, *needles: str) -> str:
    code, out = run(folder)
    assert code == 2, out
    assert "Traceback" not in out
    for needle in needles:
        assert needle in out, out
    return out


class TestProcessEntries:
    def test_no_process_argument(self, write: Write) -> None:
        """The issue's case: ``async def main():`` is refused with file, entry and signature."""
        folder = app(write, proc_entry("worker", "no_proc"))
        refused(
            folder,
            f"{folder / '_index.yaml'}, entry app:worker, field method: process function "
            "file://jobs.py:no_proc takes no process argument (signature: ())",
        )

    @pytest.mark.parametrize(
        ("method", "needle"),
        [
            ("sync_proc", "is not an async function"),
            ("agen", "is an async generator function"),
            ("callable_class", "is not an async function"),  # calling it makes an instance
        ],
    )
    def test_not_a_coroutine_function(self, write: Write, method: str, needle: str) -> None:
        folder = app(write, proc_entry("p", method))
        refused(folder, "entry app:p", f"file://jobs.py:{method} {needle}")

    @pytest.mark.parametrize(
        ("method", "inputs", "needle"),
        [
            ("needs_two", "[]", "missing a required argument: 'a' (signature: (proc, a, b=1))"),
            ("needs_two", "[1, 2, 3]", "input [1, 2, 3]: too many positional arguments"),
            ("keyword_only", "[]", "missing a required argument: 'mode'"),
            ("callable_object", "[]", "missing a required argument: 'x' (signature: (proc, x))"),
        ],
    )
    def test_service_input_must_fit(
        self, write: Write, method: str, inputs: str, needle: str
    ) -> None:
        """A service's ``input`` is bound to its process's signature; the service is named."""
        folder = app(
            write,
            proc_entry("p", method),
            f"{{name: s, kind: service, process: p, input: {inputs}}}",
        )
        refused(
            folder, "entry app:s, field input: process function", needle, "(process entry app:p)"
        )

    @pytest.mark.parametrize(
        ("method", "inputs"),
        [
            ("takes_proc", "[]"),
            ("needs_two", "[1]"),
            ("needs_two", "[1, 2]"),
            ("variadic", "[1, 2, 3]"),
            ("callable_object", "[7]"),
            ("partial_proc", "[1]"),
        ],
    )
    def test_fitting_services_load(self, write: Write, method: str, inputs: str) -> None:
        folder = app(
            write,
            proc_entry("p", method),
            f"{{name: s, kind: service, process: p, input: {inputs}}}",
        )
        assert registry.load_app(folder, environ={}).services

    def test_process_without_a_service_needs_only_the_process_argument(self, write: Write) -> None:
        """Code may spawn it with any arguments: only ``proc`` is required at load."""
        folder = app(write, proc_entry("p", "needs_two"), proc_entry("k", "keyword_only"))
        assert len(registry.load_app(folder, environ={}).callables) == 2

    def test_server_class_input_must_fit_its_init(self, write: Write) -> None:
        folder = app(write, proc_entry("c", "Counter"), "{name: s, kind: service, process: c}")
        refused(
            folder,
            "entry app:s, field input: server class file://jobs.py:Counter cannot be made with "
            "input []: missing a required argument: 'start' (signature: (start))",
        )

    async def test_server_class_runs_as_a_service(self, write: Write) -> None:
        """A Server subclass is served with a fresh ``cls(*input)`` per start."""
        folder = app(
            write,
            proc_entry("c", "Counter"),
            "{name: s, kind: service, process: c, input: [10], lifecycle: {auto_start: true}}",
        )
        async with actors.open_node() as node:
            booted = await registry.boot_app(node, folder, environ={})
            assert booted.services is not None
            status = await booted.services.status("app:s")
            assert status.pid is not None
            assert await node.call(status.pid, "add", 5) == 15
            assert booted.process("app:c").__qualname__ == "Counter"


class TestCronJobFunctions:
    def test_required_argument(self, write: Write) -> None:
        folder = app(write, job_entry("ok", "tick"), job_entry("job", "tick_required"))
        out = refused(
            folder,
            f"{folder / '_index.yaml'}, entry app:job, field method: cron.job function "
            "file://jobs.py:tick_required cannot be called with no arguments (the scheduler "
            "passes none): missing a required argument: 'x' (signature: (x))",
        )
        assert "app:ok" not in out

    @pytest.mark.parametrize("method", ["tick", "tick_default", "tick_variadic", "async_tick"])
    def test_callable_with_no_arguments_loads(self, write: Write, method: str) -> None:
        assert registry.load_app(app(write, job_entry("job", method)), environ={}).callables

    def test_generator_function_is_refused(self, write: Write) -> None:
        refused(
            app(write, job_entry("job", "gen_tick")), "entry app:job", "is a generator function"
        )

    def test_blocking_async_is_refused_at_load(self, write: Write) -> None:
        folder = app(write, job_entry("job", "async_tick", ", blocking: true"))
        refused(folder, "entry app:job", "is async but the entry says blocking: true")

    def test_plain_function_entries_take_any_arguments(self, write: Write) -> None:
        """Without cron.job, ``funcs.call`` passes what its caller passes: not checked."""
        write("app/jobs.py", CODE)
        folder = app(
            write, "{name: f, kind: function, source: file://jobs.py, method: tick_required}"
        )
        assert registry.load_app(folder, environ={}).callables

    def test_builtin_without_signature_is_accepted(self, write: Write) -> None:
        """Nothing to check: accepted as it is (``dict()`` takes no required argument)."""
        folder = app(
            write,
            "{name: job, kind: function, source: 'builtins:dict', "
            "meta: {type: cron.job, interval: 1s}}",
        )
        assert registry.load_app(folder, environ={}).callables


def test_server_process_names_the_class() -> None:
    main = server_process(actors.Server)
    assert (main.__module__, main.__qualname__) == ("actors._supervision._server", "Server")


# -- generated signatures: the verdict is exactly "the call binds" ---------------------------

NAMES = st.sampled_from(["a", "b", "c", "d", "e"])
KINDS = st.sampled_from(["positional_only", "plain", "star", "keyword_only", "star_star"])


@st.composite
def signatures(draw: st.DrawFn) -> str:
    """The parameter list of a random ``async def`` (valid Python, any mix of kinds)."""
    positional: list[tuple[bool, str, bool]] = []  # (positional-only, name, has a default)
    var: list[str] = []
    keyword_only: list[str] = []
    var_kw: list[str] = []
    names = iter(draw(st.permutations(["a", "b", "c", "d", "e", "f", "g"])))
    for kind in draw(st.lists(KINDS, max_size=5)):
        name = next(names)
        default = draw(st.booleans())
        if kind in ("positional_only", "plain"):
            positional.append((kind == "positional_only", name, default))
        elif kind == "star" and not var:
            var.append(f"*{name}")
        elif kind == "keyword_only":
            keyword_only.append(f"{name}=0" if default else name)
        elif kind == "star_star" and not var_kw:
            var_kw.append(f"**{name}")
    positional.sort(key=lambda param: not param[0])  # positional-only first
    parts: list[str] = []
    defaulted = False
    for index, (only, name, default) in enumerate(positional):
        defaulted = defaulted or default  # after a default, every positional has one
        parts.append(f"{name}=0" if defaulted else name)
        if only and (index + 1 == len(positional) or not positional[index + 1][0]):
            parts.append("/")
    if keyword_only and not var:
        parts.append("*")
    parts += [*var, *keyword_only, *var_kw]
    assert not any(keyword.iskeyword(p) for p in parts)
    return ", ".join(parts)


@settings(
    max_examples=200, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(params=signatures(), inputs=st.none() | st.lists(st.integers(), max_size=4))
def test_process_verdict_matches_a_real_call(params: str, inputs: list[int] | None) -> None:
    """``process_problem`` refuses exactly the functions a real call would refuse."""
    namespace: dict[str, Any] = {}
    exec(f"async def main({params}):\n    return 0\n", namespace)
    main = namespace["main"]
    problem = process_problem(main, inputs)

    def binds(*args: object) -> bool:
        try:
            coroutine = main(*args)
        except TypeError:
            return False
        coroutine.close()
        return True

    if inputs is None:  # callers unknown: a process slot is all that is required
        first = params.split(", ")[0]
        takes_one = bool(first) and first != "*" and not first.startswith("**")
        assert (problem is None) == takes_one, (params, problem)
    else:
        assert (problem is None) == binds(object(), *inputs), (params, inputs, problem)
    if problem is not None:
        assert f"(signature: ({params}))" in problem or "takes no process argument" in problem


@settings(
    max_examples=100, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(params=signatures(), bound=st.integers(0, 3))
def test_cron_job_verdict_matches_a_real_call(params: str, bound: int) -> None:
    namespace: dict[str, Any] = {}
    exec(f"def tick({params}):\n    return 0\n", namespace)
    tick = namespace["tick"]
    entry = registry.Entry("app:job", "function", {"type": "cron.job"}, {"source": tick})
    try:
        tick()
    except TypeError:
        assert function_problem(entry, tick) is not None
    else:
        assert function_problem(entry, tick) is None
    partial = functools.partial(tick, *range(bound))
    assert (function_problem(entry, partial) is None) == _binds(partial)


def _binds(fn: Callable[..., Any]) -> bool:
    try:
        fn()
    except TypeError:
        return False
    return True
