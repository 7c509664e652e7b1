"""Find the Python callable behind a ``process`` or ``function`` entry.

Source forms (``data["source"]``):

- ``"package.module:function"``: imported with :func:`importlib.import_module`; the part after the
  colon may be dotted (``module:Class.method``).
- ``"package.module"`` plus ``method`` (default ``main``).
- ``"file://jobs.py"`` plus ``method``: the file is loaded as a module, relative to the directory of
  the index file the entry came from (``Entry.origin``), or to the working directory for entries
  built in code. The module is cached in ``sys.modules`` under a name derived from its absolute
  path, so entries sharing a file share one module (and its state).
- a callable object (entries built in code only).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, cast

from ._entry import Entry
from ._exceptions import ResolveError

SOURCE_MODULE_PREFIX = "_registry_source_"
"""Module names given to ``file://`` sources: prefix, file stem, ``_``, a 12-digit hash."""

CALLABLE_KINDS = ("process", "function")


def resolve_callable(entry: Entry) -> Callable[..., Any]:
    """Return the callable a ``process`` or ``function`` entry names.

    ``"module:function"`` imports the module; ``"module"`` or ``"file://x.py"`` takes the
    entry's ``method`` (default ``main``); a callable given in code is returned as is.

    Args:
        entry (Entry): A ``process`` or ``function`` entry.

    Raises:
        ResolveError: the entry has another kind or no source, or the module, file or attribute
            cannot be loaded; the message names the entry and the bad path, and an underlying
            import or syntax error is the ``__cause__``.
    """
    if entry.kind not in CALLABLE_KINDS:
        raise ResolveError(
            f"entry {entry.id} is a {entry.kind}, not a process or function; it has no callable"
        )
    source = entry.data.get("source")
    method = entry.data.get("method")
    if callable(source) and not isinstance(source, str):
        return cast("Callable[..., Any]", source)
    if not isinstance(source, str) or not source:
        raise ResolveError(f"entry {entry.id} has no source to load a callable from")
    if source.startswith("file://"):
        module = _load_file(entry, source[len("file://") :])
        attribute = method or "main"
        where = source
    else:
        module_name, _, attribute = source.partition(":")
        attribute = attribute or method or "main"
        where = module_name
        module = _import(entry, module_name)
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ResolveError(
                f"entry {entry.id}: {where} has no attribute {attribute!r}"
            ) from None
    if not callable(target):
        raise ResolveError(
            f"entry {entry.id}: {where}:{attribute} is a {type(target).__name__}, not callable"
        )
    return target  # type: ignore[no-any-return]


def _import(entry: Entry, module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except Exception as error:
        raise ResolveError(
            f"entry {entry.id}: cannot import module {module_name!r}: "
            f"{type(error).__name__}: {error}"
        ) from error


def _load_file(entry: Entry, relative: str) -> ModuleType:
    base = Path(entry.origin).parent if entry.origin is not None else Path.cwd()
    path = (base / relative).resolve()
    if not path.is_file():
        raise ResolveError(f"entry {entry.id}: source file {str(path)!r} does not exist")
    digest = hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()[:12]
    name = f"{SOURCE_MODULE_PREFIX}{path.stem}_{digest}"
    cached = sys.modules.get(name)
    if cached is not None:
        return cached
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ResolveError(f"entry {entry.id}: cannot load {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise ResolveError(
            f"entry {entry.id}: loading {str(path)!r} failed: {type(error).__name__}: {error}"
        ) from error
    return module
