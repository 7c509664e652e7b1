"""Check at load that each callable can take the arguments it will be called with.

``actors run`` would otherwise start an app whose process has no ``proc`` parameter, or whose
``cron.job`` function needs an argument, and crash-loop at run time. Each check binds a template
call (stand-ins for the process and the declared arguments) with ``inspect.Signature.bind``:

- a ``process`` entry is called ``fn(proc, *input)``: it must be an ``async def`` (or an object
  with an ``async def __call__``, or a ``functools.partial`` of one) taking the process first,
  plus the ``input`` of each ``service`` entry that runs it; or an :class:`actors.Server`
  subclass, served with a fresh ``cls(*input)`` per start;
- a ``function`` entry with ``meta.type: cron.job`` is called with no arguments;
- no ``function`` entry may be a generator function (calling it would not run its body), and a
  ``blocking: true`` one must not be async.

A callable without a signature (some builtins) is accepted as it is: nothing can be checked.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeGuard

from actors import Process, Server, serve

from ._entry import Entry

_PROC = object()
"""Stands for the process in a template call."""


def display_name(fn: object) -> str:
    """``module.qualname`` of a callable (through ``functools.partial``), as logs show it."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if not hasattr(fn, "__qualname__") and hasattr(type(fn), "__call__"):  # noqa: B004
        fn = type(fn)  # a callable object: its class
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None) or repr(fn)
    return f"{module}.{qualname}" if module else qualname


class _BadPartial(Exception):
    """A ``functools.partial`` whose stored arguments do not fit its function."""


def _signature(fn: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (ValueError, TypeError) as error:
        if isinstance(fn, functools.partial):
            raise _BadPartial(str(error)) from None
        return None  # a builtin without text signature: nothing to check


def _takes_positional(signature: inspect.Signature) -> bool:
    positional = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.VAR_POSITIONAL,
    )
    return any(param.kind in positional for param in signature.parameters.values())


def is_server_class(fn: object) -> TypeGuard[type[Server]]:
    """Whether ``fn`` is a subclass of :class:`actors.Server` (run as ``serve(proc, cls())``)."""
    return isinstance(fn, type) and issubclass(fn, Server)


def is_async(fn: object) -> bool:
    """Whether calling ``fn`` returns a coroutine (async def, async ``__call__``, partials).

    A class never does: calling it makes an instance, even when its ``__call__`` is async.
    """
    if isinstance(fn, type):
        return False
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 (async callable objects)
    )


def process_problem(
    fn: Callable[..., Any], inputs: Sequence[object] | None = None, *, name: str | None = None
) -> str | None:
    """Why ``fn`` cannot run as ``fn(proc, *inputs)``, or None.

    With ``inputs`` None (a process entry whose callers are not known at load: code may spawn
    it with any arguments) only the process argument is required. The message names the
    function (as ``name``, default :func:`display_name`) and the signature found, e.g.
    ``process function jobs.main takes no process argument (signature: ())``.
    """
    name = name or display_name(fn)
    try:
        return _process_problem(fn, inputs, name)
    except _BadPartial as error:
        return f"{name} is a functools.partial whose arguments do not fit: {error}"


def _process_problem(
    fn: Callable[..., Any], inputs: Sequence[object] | None, name: str
) -> str | None:
    if is_server_class(fn):
        signature = _signature(fn)
        if signature is None or inputs is None:
            return None
        try:
            signature.bind(*inputs)
        except TypeError as error:
            return (
                f"server class {name} cannot be made with input "
                f"{list(inputs)!r}: {error} (signature: {signature})"
            )
        return None
    if inspect.isasyncgenfunction(fn):
        return (
            f"process function {name} is an async generator function (it uses yield); "
            "a process is 'async def main(proc, *args)' and does not yield"
        )
    if not is_async(fn):
        return (
            f"process function {name} is not an async function; a process is "
            "'async def main(proc, *args)'"
        )
    signature = _signature(fn)
    if signature is None:
        return None
    if not _takes_positional(signature):
        return f"process function {name} takes no process argument (signature: {signature})"
    if inputs is None:
        return None
    try:
        signature.bind(_PROC, *inputs)
    except TypeError as error:
        if not inputs:
            return (
                f"process function {name} cannot be called with the process alone (the "
                f"service has no input): {error} (signature: {signature})"
            )
        return (
            f"process function {name} cannot be called with the process and input "
            f"{list(inputs)!r}: {error} (signature: {signature})"
        )
    return None


def function_problem(
    entry: Entry, fn: Callable[..., Any], *, name: str | None = None
) -> str | None:
    """Why the ``function`` entry's ``fn`` cannot be called as its entry says, or None."""
    name = name or display_name(fn)
    try:
        return _function_problem(entry, fn, name)
    except _BadPartial as error:
        return f"{name} is a functools.partial whose arguments do not fit: {error}"


def _function_problem(entry: Entry, fn: Callable[..., Any], name: str) -> str | None:
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        return (
            f"function {name} is a generator function: calling it would not run its body "
            "(return a value instead of yielding)"
        )
    if entry.data.get("blocking") and is_async(fn):
        return (
            f"function {name} is async but the entry says blocking: true; drop blocking "
            "(async functions run on the event loop)"
        )
    if entry.meta.get("type") != "cron.job":
        return None  # funcs.call passes what its caller passes: nothing known at load
    signature = _signature(fn)
    if signature is None:
        return None
    try:
        signature.bind()
    except TypeError as error:
        return (
            f"cron.job function {name} cannot be called with no arguments (the scheduler "
            f"passes none): {error} (signature: {signature})"
        )
    return None


def server_process(cls: type[Server]) -> Callable[..., Any]:
    """The process function of a ``process`` entry naming a Server subclass.

    Each start serves a fresh ``cls(*args)``, so a restart starts from a clean state.
    """

    async def main(proc: Process, *args: Any) -> None:
        await serve(proc, functools.partial(cls, *args))

    main.__module__ = cls.__module__
    main.__qualname__ = cls.__qualname__
    main.__name__ = cls.__name__
    main.__doc__ = cls.__doc__
    return main
