"""Read the supervision tree of a node: supervisors, service managers and what they own.

Read from the state of the supervisor and service manager processes (found through their
suspended frames: no message is sent to them, nothing is added to the kernel). Also gives
each process its declared name (``label``) and its parent (the supervisor or manager that
owns it, else the one process it was spawned linked from).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .._core._crashlog import _LABEL
from .._core._node import Node
from .._core._pid import PID
from .._core._process import Process
from .._patterns._pool import _pool_worker
from .._supervision._manager_loop import _Manager, manage
from .._supervision._server import Server, serve
from .._supervision._supervisor import _Supervisor, supervise
from ._protocol import TreeNode

_STACK_DEPTH = 64


def frames(proc: Process) -> Iterator[Any]:
    """The frames of ``proc``'s await chain, outermost first."""
    task = proc._task
    coro: Any = None if task is None else task.coro
    for _ in range(_STACK_DEPTH):
        if coro is None:
            return
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            yield frame
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)


def owner(proc: Process) -> _Supervisor | _Manager | None:
    """The supervisor or service manager state that ``proc`` runs, if it runs one."""
    if proc._fn is not supervise and proc._fn is not manage:
        return None
    for frame in frames(proc):
        found = frame.f_locals.get("self")
        if isinstance(found, _Supervisor | _Manager):
            return found
    return None


def owners(node: Node) -> dict[PID, _Supervisor | _Manager]:
    """Every supervisor and service manager of ``node``, by PID."""
    found = {}
    for proc in node._procs.values():
        state = owner(proc)
        if state is not None:
            found[proc.pid] = state
    return found


def supervised(states: Mapping[PID, _Supervisor | _Manager]) -> dict[PID, tuple[PID, int]]:
    """Each running supervised child and service: (its supervisor or manager, restarts)."""
    found: dict[PID, tuple[PID, int]] = {}
    for parent, state in states.items():
        if isinstance(state, _Supervisor):
            found.update((c.pid, (parent, c.restarts)) for c in state.children if c.pid)
        else:
            found.update(
                (svc.pid, (parent, max(svc.starts - 1, 0)))
                for svc in state.services.values()
                if svc.pid is not None
            )
    return found


Describe = Callable[[object], "str | None"]
"""The app's naming hook: a function's declared name (``app:worker``), or None."""


def _no_names(fn: object) -> str | None:
    return None


def label(proc: Process, declared: Describe = _no_names) -> str:
    """What the user declared: the name ``declared`` gives (a registry entry id such as
    ``app:worker``), the Server class, the supervisor or service manager, else
    ``module.qualname`` of the function."""
    fn = proc._fn
    name = declared(fn)
    if name is not None:
        return name
    marked = getattr(fn, _LABEL, None)  # a job's run: the user's function or entry id
    if isinstance(marked, str):
        return marked
    if fn is manage:
        return "service manager"
    if fn is supervise:
        return "supervisor"
    if fn is _pool_worker:  # a pool's worker: the function the pool was started with
        for frame in frames(proc):
            if frame.f_code is _pool_worker.__code__:
                user = getattr(frame.f_locals.get("state"), "fn", None)
                if user is not None:
                    return declared(user) or qualified(user)
    if fn is serve:
        for frame in frames(proc):
            if frame.f_code is serve.__code__:
                server = frame.f_locals.get("instance") or frame.f_locals.get("server")
                kind = server if isinstance(server, type) else type(server)
                return f"server {declared(kind) or qualified(kind)}"
    return qualified(fn)


def server_of(proc: Process) -> Server | None:
    """The ``Server`` instance that ``proc`` runs (``serve``, directly or awaited by its
    function), once it has made it."""
    for frame in frames(proc):
        if frame.f_code is serve.__code__:
            instance = frame.f_locals.get("instance")
            return instance if isinstance(instance, Server) else None
    return None


def qualified(fn: object) -> str:
    """``module.qualname`` of a function or class."""
    module = getattr(fn, "__module__", None) or "?"
    return f"{module}.{getattr(fn, '__qualname__', None) or repr(fn)}"


def parents(node: Node, sup: Mapping[PID, tuple[PID, int]]) -> dict[PID, PID]:
    """Each process's parent: its supervisor or manager, else the one older process it is
    linked to (a ``spawn_linked`` parent), else none."""
    found = {pid: parent for pid, (parent, _) in sup.items()}
    for proc in node._procs.values():
        if proc.pid in found:
            continue
        links = proc._links
        if isinstance(links, Process) and links.pid.seq < proc.pid.seq:
            found[proc.pid] = links.pid
    return found


def tree(node: Node, declared: Describe, max_nodes: int) -> tuple[list[TreeNode], int]:
    """The supervision forest (roots: supervisors and managers nobody supervises) and how
    many entries were left out to stay within ``max_nodes``."""
    states = owners(node)
    sup = supervised(states)
    budget = [max_nodes, 0]

    def visit(pid: PID) -> TreeNode:
        state = states[pid]
        proc = node._procs.get(pid.seq)
        name = (proc._names or [""])[0] if proc is not None else ""
        kind = "supervisor" if isinstance(state, _Supervisor) else "services"
        me = TreeNode(kind, name or (label(proc, declared) if proc else kind), str(pid), "running")
        for child_name, child_pid, status, restarts in _entries(state):
            if budget[0] <= 0:
                budget[1] += 1
                continue
            budget[0] -= 1
            if child_pid is not None and child_pid in states:
                sub = visit(child_pid)
                sub.name = f"{child_name} ({sub.name})" if sub.name != child_name else child_name
                sub.restarts, sub.state = restarts, status
                me.children.append(sub)
                continue
            me.children.append(
                TreeNode(
                    "child" if kind == "supervisor" else "service",
                    child_name,
                    "" if child_pid is None else str(child_pid),
                    status,
                    restarts,
                )
            )
        return me

    roots = [pid for pid in states if pid not in sup]
    return [visit(pid) for pid in roots], budget[1]


def _entries(state: _Supervisor | _Manager) -> Iterator[tuple[str, PID | None, str, int]]:
    if isinstance(state, _Supervisor):
        for child in state.children:
            info = child.info()
            yield child.spec.id, child.pid, info.status, child.restarts
    else:
        for svc in state.order:
            yield svc.spec.name, svc.pid, svc.state.value, max(svc.starts - 1, 0)
