"""Boot an app from its index files: hosts, env, resolved callables, services in order.

``load_app(dir)`` does everything that can fail on bad input, before anything runs: it loads the
index files, builds the registry and the env, resolves every ``process`` and ``function``
callable and builds one :class:`actors.ServiceSpec` per ``service`` entry. ``boot_app(node, dir)``
then declares the hosts on the node, makes the :class:`App` reachable from its processes
(:func:`current_app`) and starts the services in dependency order.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, final

import attrs
import trio

import actors
from actors import Backoff, Node, Process, ServiceManager, ServiceSpec
from actors._core._crashlog import set_label

from ._cronentry import cron_entry_spec
from ._entry import Entry
from ._env import Env
from ._exceptions import IndexFileError, Problem, RegistryError, ResolveError
from ._funcs import Funcs
from ._loader import INDEX_FILE, load_dir
from ._registry import Registry
from ._resolve import resolve_callable
from ._signatures import function_problem, is_server_class, process_problem, server_process
from ._validate import check_cron_job

ProcessFn = Callable[..., Coroutine[Any, Any, Any]]

_APPS: trio.lowlevel.RunVar[dict[Node, App]] = trio.lowlevel.RunVar("registry.apps")


def app_root(path: str | os.PathLike[str]) -> Path:
    """Return the folder whose index files make the app: ``DIR/src`` if it has one, else ``DIR``.

    Raises:
        IndexFileError: ``path`` is not a directory.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise IndexFileError([Problem("is not a directory (expected an app folder)", str(folder))])
    src = folder / "src"
    return src if (src / INDEX_FILE).is_file() else folder


@final
@attrs.frozen
class AppPlan:
    """A loaded, checked app that has not started: what :func:`boot_app` needs."""

    root: Path
    """The folder the index files were loaded from (``DIR/src`` or ``DIR``)."""
    entries: tuple[Entry, ...]
    """Every entry, sorted by id."""
    hosts: tuple[tuple[str, int | None], ...]
    """``(host id, max_processes)`` for each ``host`` entry."""
    services: tuple[ServiceSpec, ...]
    """One spec per ``service`` and ``cron.durable`` entry, in id order (the manager orders
    them by ``requires``)."""
    callables: Mapping[Entry, Callable[..., Any]]
    """The resolved callable of every ``process`` and ``function`` entry."""
    environ: Mapping[str, str]
    """The OS environment the app was loaded with (read by ``env.storage.os``)."""
    pools: tuple[PoolPlan, ...] = ()
    """One plan per ``pool`` entry, in id order (started before the services)."""


@final
@attrs.frozen
class PoolPlan:
    """A ``pool`` entry, checked: what :func:`actors.start_pool` is called with at boot."""

    id: str
    """The entry id: the pool's name (``actors.pool(id)``) and its supervisor's."""
    fn: ProcessFn
    """The worker process function (the entry's ``process``)."""
    args: tuple[object, ...]
    """The entry's ``input``: extra arguments for each worker."""
    options: Mapping[str, Any]
    """Keyword arguments for :func:`actors.start_pool` (size, routing, backoff, ...)."""


@final
@attrs.define(eq=False, repr=False)
class App:
    """A running app: its node, registry, env and funcs, and the manager of its services.

    Processes of the app reach it with :func:`current_app` (``app = registry.current_app()``).
    :func:`boot_app` makes it; the public fields are its other arguments.

    Args:
        callables (dict[Entry, Callable[..., Any]]): Resolved callables by entry value (the
            plan's), so :meth:`process` loads each entry once.
    """

    node: Node
    """The node the app runs on."""
    root: Path
    """The folder the index files were loaded from."""
    registry: Registry
    """The live registry (``find``, ``get``, changesets; :func:`registry.watch` it)."""
    env: Env
    """The environment declared by the app's ``env.*`` entries."""
    funcs: Funcs
    """Calls the app's ``function`` entries: ``await app.funcs.call("app:job.x", *args)``."""
    services: ServiceManager | None = None
    """The service manager; None until the services have been started."""
    _callables: dict[Entry, Callable[..., Any]] = attrs.field(factory=dict)

    def __repr__(self) -> str:
        return f"<App {str(self.root)!r} version={self.registry.version}>"

    def process(self, entry_id: str) -> ProcessFn:
        """Return the process function of the ``process`` entry ``entry_id``.

        The callable is resolved once per entry value, so an updated entry is picked up.

        Args:
            entry_id (str): The entry's id, ``namespace:name``.

        Raises:
            EntryNotFoundError: If no entry has this id.
            ResolveError: If the entry is not a ``process`` or its callable cannot be loaded.
        """
        entry = self.registry.get(entry_id)
        if entry.kind != "process":
            raise ResolveError(f"entry {entry_id} is a {entry.kind}, not a process")
        fn = self._callables.get(entry)
        if fn is None:
            fn = self._callables[entry] = _as_process(resolve_callable(entry), entry)
        return fn


def current_app(via: Node | Process | None = None) -> App:
    """Return the app booted on this node (the current node, or ``via``'s).

    Args:
        via (Node | Process | None): A node, a process handle (its node), or None for the
            current node.

    Raises:
        RuntimeError: If no app was booted on the node, or ``via`` is None outside a
            running node.
    """
    node = via.node if isinstance(via, Process) else via
    if node is None:
        node = actors.current_node()
    app = _APPS.get({}).get(node)
    if app is None:
        raise RuntimeError("no app is booted on this node; start it with registry.boot_app()")
    return app


def load_app(path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None) -> AppPlan:
    """Load and check the app in ``path`` without starting anything.

    Args:
        path (str | os.PathLike[str]): The app folder: its index files are under ``path/src``
            if that has an ``_index.yaml``, else under ``path``.
        environ (Mapping[str, str] | None): The OS environment for ``env.storage.os`` and
            ``${env:...}`` interpolation; ``os.environ`` by default.

    Returns:
        AppPlan: The checked entries, callables, hosts, pools and services, ready for
        :func:`boot_app`.

    Raises:
        IndexFileError: any problem, all listed, each naming the file and the entry: bad YAML or
            fields (from :func:`load_dir`), a ``process`` or ``function`` whose callable cannot be
            imported, a callable that cannot take the arguments it will be called with (a
            process that is not an ``async def`` or takes no process argument, a service whose
            ``input`` its process cannot take, a ``cron.job`` function with a required
            argument: see ``registry._signatures``), a ``cron.job`` entry whose ``meta``
            (``interval``, ``cron``, ``tz``, policies) is invalid.
    """
    environ = os.environ if environ is None else environ
    root = app_root(path)
    entries = load_dir(root, environ=environ)
    problems: list[Problem] = []
    callables: dict[Entry, Callable[..., Any]] = {}
    raw: dict[str, Callable[..., Any]] = {}  # entry id -> callable as written (for the checks)
    for entry in entries:
        if entry.kind in ("process", "function"):
            fn = _resolve(entry, problems)
            if fn is not None:
                raw[entry.id] = fn
                callables[entry] = _as_process(fn, entry) if entry.kind == "process" else fn
    for entry in entries:
        if entry.meta.get("type") == "cron.job":
            _, bad = check_cron_job(entry)
            problems.extend(Problem(m, entry.origin, entry=entry.id, field=f) for f, m in bad)
    by_id = {entry.id: entry for entry in entries}
    services = []
    for entry in entries:
        if entry.kind == "service":
            process = by_id[entry.data["process"]]
            fn = callables.get(process)
            if fn is not None:
                inputs = entry.data["input"]
                unfit = process_problem(raw[process.id], inputs, name=_describe(process))
                if unfit is not None:
                    problems.append(_signature_problem(entry, unfit, process))
                    continue
                spec = _service_spec(entry, fn, problems)
                if spec is not None:
                    services.append(spec)
        elif entry.kind == "cron.durable":
            try:
                services.append(cron_entry_spec(entry))
            except ValueError as error:  # the loader checks these; kept for code-built entries
                problems.append(Problem(str(error), entry.origin, entry=entry.id))
    unfit_pools = set()
    for entry in entries:  # each pool worker is spawned as fn(proc, *input)
        if entry.kind == "pool" and callables.get(process := by_id[entry.data["process"]]):
            inputs = entry.data.get("input", [])
            unfit = process_problem(raw[process.id], inputs, name=_describe(process))
            if unfit is not None:
                problems.append(_signature_problem(entry, unfit, process))
                unfit_pools.add(entry.id)
    pools = tuple(
        plan
        for entry in entries
        if entry.kind == "pool" and entry.id not in unfit_pools
        if (fn := callables.get(by_id[entry.data["process"]]))
        if (plan := _pool_plan(entry, fn, problems)) is not None
    )
    if problems:
        raise IndexFileError(problems)
    hosts = tuple(
        (entry.id, entry.data["host"]["max_processes"]) for entry in entries if entry.kind == "host"
    )
    return AppPlan(root, tuple(entries), hosts, tuple(services), callables, environ, pools)


async def boot_app(
    node: Node,
    app: str | os.PathLike[str] | AppPlan,
    *,
    environ: Mapping[str, str] | None = None,
) -> App:
    """Load the app in a folder (or take a loaded plan) and start it on ``node``.

    Declares every ``host`` entry as a host of the node (``max_processes`` applies), builds the
    registry and env, makes the :class:`App` available to processes (:func:`current_app`), starts
    each ``pool`` entry (:func:`actors.start_pool`, named by the entry id), then starts the
    services' manager, which starts the ``auto_start`` services in dependency order.
    At node shutdown the manager is stopped first: services stop in reverse order. Async:
    returns once the ``auto_start`` services have started.

    Args:
        node (Node): The node to start the app on.
        app (str | os.PathLike[str] | AppPlan): An app folder (loaded with :func:`load_app`)
            or a plan it returned.
        environ (Mapping[str, str] | None): The OS environment, when ``app`` is a folder; a
            plan keeps the one it was loaded with. ``os.environ`` by default.

    Returns:
        App: The running app (also :func:`current_app` on the node).

    Raises:
        IndexFileError: If the app is malformed (see :func:`load_app`); nothing was started.
        RuntimeError: If an app is already booted on this node.
    """
    plan = app if isinstance(app, AppPlan) else load_app(app, environ=environ)
    try:
        apps = _APPS.get()
    except LookupError:
        apps = {}
        _APPS.set(apps)
    if node in apps:
        raise RuntimeError(f"an app is already booted on {node!r}")
    registry = Registry.from_entries(plan.entries)
    env = Env.from_entries(plan.entries, environ=plan.environ)
    booted = App(node, plan.root, registry, env, Funcs(registry), callables=dict(plan.callables))
    for name, limit in plan.hosts:
        node.add_host(name, max_processes=limit)
    apps[node] = booted
    for pool in plan.pools:
        actors.start_pool(node, pool.fn, *pool.args, name=pool.id, **pool.options)
    booted.services = await actors.start_services(node, plan.services)
    return booted


def _resolve(entry: Entry, problems: list[Problem]) -> Callable[..., Any] | None:
    try:
        fn = resolve_callable(entry)
    except RegistryError as error:
        message = str(error).removeprefix(f"entry {entry.id}: ")
        problems.append(Problem(message, entry.origin, entry=entry.id, field="source"))
        return None
    if entry.kind == "process":
        bad = process_problem(fn, name=_describe(entry))
    else:
        bad = function_problem(entry, fn, name=_describe(entry))
    if bad is not None:
        field = "method" if entry.data.get("method") else "source"
        problems.append(Problem(bad, entry.origin, entry=entry.id, field=field))
        return None
    return fn


def _as_process(fn: Callable[..., Any], entry: Entry) -> Callable[..., Any]:
    """The process function of a ``process`` entry, labelled with the entry id.

    Crash reports and ``ps`` then name the entry (``function=app:worker``) rather than the
    module of a ``file://`` source (``_registry_source_jobs_<hash>.main``). The label is an
    attribute of the function: two entries naming one function share the last one.
    """
    process = server_process(fn) if is_server_class(fn) else fn
    with contextlib.suppress(AttributeError, TypeError):  # a bound method takes no attribute
        set_label(process, entry.id)
    return process


def _signature_problem(service: Entry, message: str, process: Entry) -> Problem:
    where = f" (process entry {process.id})"
    return Problem(message + where, service.origin, entry=service.id, field="input")


def _describe(entry: Entry) -> str:
    source = entry.data.get("source")
    method = entry.data.get("method")
    return f"{source}:{method}" if method else str(source)


def _backoff(restart: Mapping[str, Any], **extra: Any) -> Backoff:
    """The ``Backoff`` of a checked ``lifecycle.restart`` block (service and pool entries)."""
    return Backoff(
        initial=actors.parse_duration(restart["initial_delay"]),
        factor=float(restart["backoff_factor"]),
        max_delay=actors.parse_duration(restart["max_delay"]),
        jitter=float(restart["jitter"]),
        max_attempts=restart["max_attempts"],
        **extra,
    )


def _service_spec(
    entry: Entry, fn: Callable[..., Any], problems: list[Problem]
) -> ServiceSpec | None:
    data = entry.data
    life = data["lifecycle"]
    try:
        backoff = _backoff(
            life["restart"], stable_threshold=actors.parse_duration(life["stable_threshold"])
        )
        return ServiceSpec(
            entry.id,
            fn,
            tuple(data["input"]),
            requires=tuple(life["requires"]),
            auto_start=life["auto_start"],
            start_timeout=actors.parse_duration(life["start_timeout"]),
            stop_timeout=actors.parse_duration(life["stop_timeout"]),
            backoff=backoff,
            host=data.get("host"),
            critical=life["critical"],
            ready=life["ready"],
        )
    except ValueError as error:  # the loader checks these; kept for entries built in code
        problems.append(Problem(str(error), entry.origin, entry=entry.id, field="lifecycle"))
        return None


def _pool_plan(entry: Entry, fn: Callable[..., Any], problems: list[Problem]) -> PoolPlan | None:
    data = entry.data
    life = data["lifecycle"]
    try:
        backoff = _backoff(life["restart"])
        options = {
            "size": data["size"],
            "routing": data["routing"],
            "backoff": backoff,
            "shutdown": actors.parse_duration(life["stop_timeout"]),
            "max_restarts": life["max_restarts"],
            "period": actors.parse_duration(life["period"]),
        }
    except (KeyError, ValueError) as error:  # the loader checks these; kept for code entries
        problems.append(Problem(str(error), entry.origin, entry=entry.id, field="lifecycle"))
        return None
    return PoolPlan(entry.id, fn, tuple(data["input"]), options)
