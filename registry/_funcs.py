"""Call ``function`` entries by id: ``await funcs.call(registry, "app:job.heartbeat", *args)``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, final

import attrs

from actors import run_sync_in_thread

from ._entry import Entry
from ._exceptions import FunctionCallError, ResolveError
from ._registry import Registry, Snapshot
from ._resolve import resolve_callable


async def call(registry: Registry | Snapshot, entry_id: str, *args: Any) -> Any:
    """Run the ``function`` entry ``entry_id`` with ``args`` and return its result.

    An async function is awaited in the caller's task, so cancelling the caller cancels it. A
    sync function is called directly, or in a worker thread (``actors.run_sync_in_thread``)
    when the entry says ``blocking: true``, so it cannot stall the event loop; if the caller is
    stopped meanwhile it stops at once and the thread is abandoned (it runs on until the
    function returns; its result is dropped). The callable is resolved on every call; use
    :class:`Funcs` to cache it per entry version. Async.

    Args:
        registry (Registry | Snapshot): Where the entry is looked up.
        entry_id (str): The ``function`` entry's id.
        *args (Any): The arguments it is called with.

    Returns:
        Any: What the function returned (awaited if it returned an awaitable).

    Raises:
        EntryNotFoundError: If no entry has this id.
        ResolveError: If the entry is not a ``function``, its callable cannot be loaded, or it
            says ``blocking: true`` but the function is async.
        FunctionCallError: If the function raised; the original exception is the
            ``__cause__``.
    """
    entry = _function_entry(registry, entry_id)
    return await _run(entry, resolve_callable(entry), args)


@final
@attrs.define(eq=False, repr=False)
class Funcs:
    """Calls ``function`` entries of one registry, caching each entry's resolved callable.

    The cache is keyed by the entry value, so an update of the entry is picked up at once.
    """

    registry: Registry | Snapshot
    """Where entries are looked up, on every call (a live registry sees updates)."""
    _cache: dict[Entry, Callable[..., Any]] = attrs.field(factory=dict, init=False)

    async def call(self, entry_id: str, *args: Any) -> Any:
        """Run a ``function`` entry; see :func:`registry.funcs.call` for the rules.

        Async.

        Args:
            entry_id (str): The ``function`` entry's id.
            *args (Any): The arguments it is called with.

        Returns:
            Any: What the function returned.

        Raises:
            EntryNotFoundError: If no entry has this id.
            ResolveError: If the entry is not a ``function``, its callable cannot be loaded,
                or it says ``blocking: true`` but the function is async.
            FunctionCallError: If the function raised; the original exception is the
                ``__cause__``.
        """
        entry = _function_entry(self.registry, entry_id)
        try:
            function = self._cache.get(entry)
        except TypeError:  # data holding an unhashable object (built in code): no caching
            return await _run(entry, resolve_callable(entry), args)
        if function is None:
            function = resolve_callable(entry)
            if len(self._cache) > 1024:
                self._cache.clear()  # old versions of updated entries; keeps memory bounded
            self._cache[entry] = function
        return await _run(entry, function, args)


def _function_entry(registry: Registry | Snapshot, entry_id: str) -> Entry:
    entry = registry.get(entry_id)
    if entry.kind != "function":
        raise ResolveError(f"entry {entry_id} is a {entry.kind}, not a function; cannot call it")
    return entry


async def _run(entry: Entry, function: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    blocking = bool(entry.data.get("blocking", False))
    if blocking and inspect.iscoroutinefunction(function):
        raise ResolveError(
            f"entry {entry.id} says blocking: true but {function.__qualname__} is async; "
            "drop blocking (async functions run on the event loop)"
        )
    try:
        if blocking:
            return await run_sync_in_thread(function, *args)
        result = function(*args)
        if inspect.isawaitable(result):
            result = await result
        return result
    except Exception as error:
        raise FunctionCallError(entry.id, error) from error
