"""The spawn allow-list: what a node exports, and the errors that name what is wrong."""

from __future__ import annotations

import pytest
from distapp import echo
from hypothesis import given
from hypothesis import strategies as st

from actors.cluster import Exports


def test_functions_and_paths_are_exported_under_their_path() -> None:
    exports = Exports("b", [echo, "distapp:returns"])
    assert exports.names() == ["distapp:echo", "distapp:returns"]
    assert exports.resolve("distapp:echo") is echo
    assert exports.add(echo, name="app:echo") == "app:echo"
    assert exports.resolve("app:echo") is echo


def test_bad_exports_are_named() -> None:
    with pytest.raises(TypeError, match="list of functions or paths"):
        Exports("b", "distapp:echo")
    exports = Exports("b")
    with pytest.raises(TypeError, match="async function"):
        exports.add(print)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="distapp:EXPORTS is not an async function"):
        exports.add("distapp:EXPORTS")
    with pytest.raises(ValueError, match="'module:qualname', got 'nocolon'"):
        exports.add("nocolon")
    with pytest.raises(ModuleNotFoundError):
        exports.add("no_such_module_xyz:f")
    with pytest.raises(ValueError, match="export name"):
        exports.add(echo, name="")
    with pytest.raises(ValueError, match="export name"):
        exports.add(echo, name="x" * 513)


@given(st.text(max_size=600))
def test_anything_not_exported_is_refused_naming_it(name: str) -> None:
    exports = Exports("b", [echo])
    exports.add_resolver(lambda n: echo if n == "svc:echo" else None)
    if name in ("distapp:echo", "svc:echo"):
        assert exports.resolve(name) is echo
        return
    with pytest.raises(PermissionError) as info:
        exports.resolve(name)
    message = str(info.value)
    assert repr(name[:512]) in message and "node 'b'" in message
    assert len(message) < 2000  # bounded, whatever the peer sent
