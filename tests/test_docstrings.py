"""Every public name has a docstring: the API reference (docs/reference/) is built from them.

Checked at run time on what each namespace exports: functions and classes, and the public
methods and properties a public class defines itself. Constants are documented by the
attribute docstring under their assignment, which the site shows; they are not checked here.
"""

from __future__ import annotations

import enum
import inspect
import types

import pytest

import actors
import actors.cluster
import actors.testing
import registry

NAMESPACES = {
    "actors": actors,
    "actors.cron": actors.cron,
    "actors.cluster": actors.cluster,
    "actors.runner": actors.runner,
    "actors.lowlevel": actors.lowlevel,
    "actors.testing": actors.testing,
    "registry": registry,
}


def _own_doc(obj: object) -> str:
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    return (doc or "").strip()


def _undocumented() -> list[str]:
    missing: list[str] = []
    for space, module in NAMESPACES.items():
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, types.ModuleType) or not (
                inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj)
            ):
                continue
            if not _own_doc(obj):
                missing.append(f"{space}.{name}")
            if inspect.isclass(obj) and not issubclass(obj, enum.Enum):
                missing.extend(_undocumented_members(f"{space}.{name}", obj))
    return missing


def _undocumented_members(where: str, cls: type) -> list[str]:
    missing = []
    for attr, value in vars(cls).items():
        if attr.startswith("_"):
            continue
        if isinstance(value, staticmethod | classmethod):
            value = value.__func__
        if isinstance(value, property):
            value = value.fget
        # A method overriding a documented one (a protocol's, logging.Handler.emit) inherits
        # its docstring, as inspect.getdoc and the site do.
        if inspect.isfunction(value) and not (inspect.getdoc(getattr(cls, attr)) or "").strip():
            missing.append(f"{where}.{attr}")
    return missing


def test_every_public_name_has_a_docstring() -> None:
    assert _undocumented() == []


@pytest.mark.parametrize("space", sorted(NAMESPACES))
def test_every_namespace_has_a_docstring(space: str) -> None:
    assert (NAMESPACES[space].__doc__ or "").strip()
