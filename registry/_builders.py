"""Declare entries in code: one helper per built-in kind, checked like index files.

Each helper builds an :class:`Entry` whose data has the same shape (and the same defaults) as the
loader produces from YAML, or raises :class:`InvalidEntryError` listing every problem::

    registry.changes().create_all([
        host_entry("app:processes"),
        function_entry("app:job.heartbeat", "jobs:heartbeat", meta={"type": "cron.job"}),
        process_entry("app:worker", worker_main),  # a callable works too, in code
        service_entry("app:scheduler", "scheduler_process", host="processes",
                      lifecycle={"auto_start": True}),
    ]).apply()

References (``process=``, ``host=``, ``requires``, ``storage=``) may be short names in the entry's
own namespace; they are completed to full ids. Cross-entry checks (dangling references, cycles)
run in :func:`validate_entries`, since a helper sees one entry at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from ._entry import Entry
from ._validate import build

Source = str | Callable[..., Any]
StorageKind = Literal["os", "file", "memory", "static", "router"]


def _fields(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def process_entry(
    entry_id: str,
    source: Source,
    *,
    method: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Entry:
    """Declare a ``process``: ``"module:function"``, ``"module"`` + ``method``,
    ``"file://x.py"`` + ``method`` (relative to the working directory), or a callable.

    Args:
        entry_id (str): The entry's id, ``namespace:name`` (e.g. ``"app:worker"``).
        source (Source): ``"module:function"``, ``"module"`` (with ``method``),
            ``"file://x.py"`` (with ``method``; relative to the working directory) or the
            callable itself.
        method (str | None): The function's name in ``source``, when ``source`` names a
            module or a file.
        meta (Mapping[str, Any] | None): Free-form metadata (``type``, ``comment``...),
            frozen into ``Entry.meta``.

    Raises:
        InvalidEntryError: If the id or a field is invalid; every problem is listed.
    """
    return build(entry_id, "process", _fields(source=source, method=method), meta)


def function_entry(
    entry_id: str,
    source: Source,
    *,
    method: str | None = None,
    blocking: bool = False,
    meta: Mapping[str, Any] | None = None,
) -> Entry:
    """Declare a ``function`` for ``funcs.call``; ``blocking=True`` runs it in a thread.

    Args:
        entry_id (str): The entry's id, ``namespace:name`` (e.g. ``"app:worker"``).
        source (Source): ``"module:function"``, ``"module"`` (with ``method``),
            ``"file://x.py"`` (with ``method``; relative to the working directory) or the
            callable itself.
        method (str | None): The function's name in ``source``, when ``source`` names a
            module or a file.
        blocking (bool): Whether it is a plain (sync) function that may block, run in a worker
            thread by ``funcs.call``.
        meta (Mapping[str, Any] | None): Free-form metadata (``type``, ``comment``...),
            frozen into ``Entry.meta``.

    Raises:
        InvalidEntryError: If the id or a field is invalid; every problem is listed.
    """
    fields = _fields(source=source, method=method, blocking=blocking)
    return build(entry_id, "function", fields, meta)


def service_entry(
    entry_id: str,
    process: str,
    *,
    host: str | None = None,
    input: Sequence[Any] = (),
    lifecycle: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Entry:
    """Declare a ``service``: a supervised ``process`` entry started with ``input`` as arguments.

    ``lifecycle`` has the index-file shape: ``auto_start``, ``requires``, ``start_timeout``,
    ``stop_timeout``, ``stable_threshold``, ``critical``, ``ready`` and ``restart``
    (``initial_delay``, ``max_delay``, ``backoff_factor``, ``jitter``, ``max_attempts``); missing
    keys get their defaults.

    Args:
        entry_id (str): The entry's id, ``namespace:name`` (e.g. ``"app:worker"``).
        process (str): The ``process`` entry it runs (a short name is completed with the
            entry's namespace).
        host (str | None): The ``host`` entry it runs on; None for the node's default host.
        input (Sequence[Any]): The arguments its process is started with, after ``proc``.
        lifecycle (Mapping[str, Any] | None): Start, stop and restart settings (above).
        meta (Mapping[str, Any] | None): Free-form metadata (``type``, ``comment``...),
            frozen into ``Entry.meta``.

    Raises:
        InvalidEntryError: If the id or a field is invalid; every problem is listed.
    """
    fields = _fields(process=process, host=host, input=list(input), lifecycle=lifecycle)
    return build(entry_id, "service", fields, meta)


def host_entry(
    entry_id: str,
    *,
    max_processes: int | None = None,
    lifecycle: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Entry:
    """Declare a ``host``: a named process group, optionally limited to ``max_processes``.

    Args:
        entry_id (str): The entry's id, ``namespace:name`` (e.g. ``"app:worker"``).
        max_processes (int | None): The most live processes the host may hold (>= 1); None
            for no limit.
        lifecycle (Mapping[str, Any] | None): ``auto_start``, ``start_timeout`` and
            ``stop_timeout``; missing keys get their defaults.
        meta (Mapping[str, Any] | None): Free-form metadata (``type``, ``comment``...),
            frozen into ``Entry.meta``.

    Raises:
        InvalidEntryError: If the id or a field is invalid; every problem is listed.
    """
    fields = _fields(host={"max_processes": max_processes}, lifecycle=lifecycle)
    return build(entry_id, "host", fields, meta)


def env_variable_entry(
    entry_id: str,
    *,
    storage: str,
    variable: str | None = None,
    default: str | int | float | bool | None = None,
    readonly: bool = False,
    type: Literal["str", "int", "float", "bool", "duration"] = "str",
    meta: Mapping[str, Any] | None = None,
) -> Entry:
    """Declare an ``env.variable`` stored in ``storage`` under its public name ``variable``.

    Args:
        entry_id (str): The entry's id, ``namespace:name`` (e.g. ``"app:worker"``).
        storage (str): The ``env.storage.*`` entry that holds its value.
        variable (str | None): Its public name (letters, digits and ``_``), also its key in
            the storage; None: addressed by entry id only, stored under the entry's name.
        default (str | int | float | bool | None): The value when the storage has none; it
            must fit ``type``. None: no default (the variable may be unset).
        readonly (bool): Whether ``Env.set`` refuses it.
        type (Literal["str", "int", "float", "bool", "duration"]): What ``Env.get``
            converts the stored text to (``duration``: seconds as a float).
        meta (Mapping[str, Any] | None): Free-form metadata (``type``, ``comment``...),
            frozen into ``Entry.meta``.

    Raises:
        InvalidEntryError: If the id or a field is invalid; every problem is listed.
    """
    fields = _fields(
        variable=variable, storage=storage, default=default, readonly=readonly, type=type
    )
    return build(entry_id, "env.variable", fields, meta)


def env_storage_entry(
    entry_id: str,
    storage_kind: StorageKind,
    *,
    meta: Mapping[str, Any] | None = None,
    **fields: Any,
) -> Entry:
    """Declare an ``env.storage.<storage_kind>`` with its fields.

    Example: ``env_storage_entry("app:dotenv", "file", file_path=".env", auto_create=True)``,
    ``env_storage_entry("app:env", "router", storages=["app:dotenv", "app:os"])``.

    Args:
        entry_id (str): The entry's id, ``namespace:name`` (e.g. ``"app:worker"``).
        storage_kind (StorageKind): ``"os"``, ``"file"``, ``"memory"``, ``"static"`` or
            ``"router"``.
        meta (Mapping[str, Any] | None): Free-form metadata (``type``, ``comment``...),
            frozen into ``Entry.meta``.
        **fields (Any): The kind's fields: ``file_path``, ``auto_create``, ``file_mode``
            (file), ``values`` (static), ``storages`` (router); none for os and memory.

    Raises:
        InvalidEntryError: If the id or a field is invalid; every problem is listed.
    """
    return build(entry_id, f"env.storage.{storage_kind}", fields, meta)


def data_entry(
    entry_id: str,
    data: Mapping[str, Any] | None = None,
    *,
    meta: Mapping[str, Any] | None = None,
) -> Entry:
    """Declare a ``registry.entry``: plain data, no schema.

    Args:
        entry_id (str): The entry's id, ``namespace:name`` (e.g. ``"app:worker"``).
        data (Mapping[str, Any] | None): The entry's data (string keys), frozen into
            ``Entry.data``.
        meta (Mapping[str, Any] | None): Free-form metadata (``type``, ``comment``...),
            frozen into ``Entry.meta``.

    Raises:
        InvalidEntryError: If the id is invalid or a mapping has a key that is not a string.
    """
    return build(entry_id, "registry.entry", dict(data or {}), meta)
