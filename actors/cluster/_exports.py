"""What peers may spawn on this node: the export list of a node group.

A peer's ``group.spawn(node, name, ...)`` starts a function on ``node`` only if
``node`` exports it under ``name``: added one by one (``exports.add``: an async
function, or its ``"module:qualname"`` path, imported at once), or found by a
resolver (``exports.add_resolver``: ``actors run`` resolves the app's registry
``process`` entries by id). Anything else is refused, naming it; nothing is
imported on a peer's say-so. Spawning on this node's own name is not a peer's
request: it may also name any importable async function.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

__all__ = ["Exports", "import_function"]

ProcessFn = Callable[..., Coroutine[Any, Any, Any]]
Resolver = Callable[[str], "ProcessFn | None"]

MAX_NAME = 512


def import_function(path: str) -> ProcessFn:
    """Import the async function ``"module:qualname"``.

    Args:
        path (str): ``"module:qualname"`` of an async function.

    Returns:
        The async function.

    Raises:
        ValueError: If ``path`` is not ``module:qualname``.
        TypeError: If it names something that is not an async function.
        ImportError, AttributeError: If it cannot be found.
    """
    module_name, colon, qualname = path.partition(":")
    if not colon or not module_name or not qualname:
        raise ValueError(f"function must be 'module:qualname', got {path!r}")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    if not inspect.iscoroutinefunction(target):
        raise TypeError(f"{path} is not an async function")
    return target  # type: ignore[no-any-return]


class Exports:
    """The functions peers may spawn on this node (``NodeGroup.exports``).

    Args:
        node (str): This node's name (named by the refusals).
        functions (Iterable[str | ProcessFn]): Async functions or ``"module:qualname"`` paths,
            exported under their path.

    Raises:
        TypeError: If ``functions`` is a string, or one is not an async function.
        ValueError, ImportError, AttributeError: If a path is malformed or cannot be imported.
    """

    def __init__(self, node: str, functions: Iterable[str | ProcessFn] = ()) -> None:
        self._node = node
        self._by_name: dict[str, ProcessFn] = {}
        self._resolvers: list[Resolver] = []
        if isinstance(functions, str):
            raise TypeError(f"exports must be a list of functions or paths, got {functions!r}")
        for function in functions:
            self.add(function)

    def __repr__(self) -> str:
        return f"<Exports {self._node} {self.names()} resolvers={len(self._resolvers)}>"

    def add(self, function: str | ProcessFn, *, name: str | None = None) -> str:
        """Export ``function`` under ``name`` (default: its ``"module:qualname"``); return it.

        Args:
            function (str | ProcessFn): An async function, or its ``"module:qualname"`` path.
            name (str | None): The name peers spawn it by (1..512 characters); default: its
                ``"module:qualname"``.

        Returns:
            The name it is exported under.

        Raises:
            TypeError: If ``function`` is not an async function (or a path to one).
            ValueError: If a path is malformed, or ``name`` is empty or too long.
            ImportError, AttributeError: If a path cannot be imported.
        """
        if isinstance(function, str):
            fn = import_function(function)
            default = function
        elif inspect.iscoroutinefunction(function):
            fn = function
            default = f"{function.__module__}:{function.__qualname__}"
        else:
            raise TypeError(f"can only export an async function or its path, got {function!r}")
        key = default if name is None else name
        if not isinstance(key, str) or not 0 < len(key) <= MAX_NAME:
            raise ValueError(f"export name must be a str of 1..{MAX_NAME} chars, got {name!r}")
        self._by_name[key] = fn
        return key

    def add_resolver(self, resolve: Resolver) -> None:
        """Also export what ``resolve(name)`` returns (None: not exported by it).

        Args:
            resolve (Callable[[str], ProcessFn | None]): Called with each requested name that
                ``add`` did not export; returns the async function to spawn, or None.
        """
        self._resolvers.append(resolve)

    def remove(self, name: str) -> bool:
        """Stop exporting ``name`` (added with ``add``); return whether it was exported.

        Args:
            name (str): A name given to (or returned by) ``add``.

        Returns:
            Whether it was exported.
        """
        return self._by_name.pop(name, None) is not None

    def names(self) -> list[str]:
        """The names added with ``add``, sorted (resolvers are not listed)."""
        return sorted(self._by_name)

    def resolve(self, name: str) -> ProcessFn:
        """The function exported under ``name``.

        Args:
            name (str): The name a peer asked to spawn.

        Returns:
            The async function exported under it (added, or found by a resolver).

        Raises:
            PermissionError: If nothing exports it (the message names it and the node).
        """
        fn = self._by_name.get(name)
        if fn is not None:
            return fn
        for resolve in self._resolvers:
            fn = resolve(name)
            if fn is not None:
                return fn
        shown = ", ".join(self.names()[:10]) or "none"
        raise PermissionError(
            f"node {self._node!r} does not export {name[:MAX_NAME]!r} for remote spawn"
            f" (exported: {shown}{', ...' if len(self._by_name) > 10 else ''}"
            f"{' and resolved names' if self._resolvers else ''})"
        )
