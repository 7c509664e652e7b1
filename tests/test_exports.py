"""The public surface: every public name re-exported once, README example works."""

from __future__ import annotations

import importlib.metadata
import re
import types
from pathlib import Path

import pytest

import actors
import actors.cluster
import actors.testing
import registry

ROOT = Path(__file__).resolve().parents[1]


NAMESPACES = {
    "actors": actors,
    "actors.cron": actors.cron,
    "actors.cluster": actors.cluster,
    "actors.runner": actors.runner,
    "actors.lowlevel": actors.lowlevel,
    "actors.testing": actors.testing,
    "registry": registry,
}


def _exported() -> list[tuple[str, str, object]]:
    return [
        (space, name, getattr(module, name))
        for space, module in NAMESPACES.items()
        for name in module.__all__
        if not isinstance(getattr(module, name), types.ModuleType)
    ]


class TestExports:
    @pytest.mark.parametrize("space", sorted(NAMESPACES))
    def test_all_lists_every_public_name(self, space: str) -> None:
        """__all__ names exactly the public attributes of the namespace, each once."""
        module = NAMESPACES[space]
        for name in module.__all__:  # actors and registry import their names on first use
            getattr(module, name)
        # Not identifiers: pytest's assertion rewriting adds ``@py_builtins`` to the modules of
        # a distribution with a pytest11 plugin (actors.testing's).
        public = {n for n in vars(module) if not n.startswith("_") and n.isidentifier()}
        if space == "actors":
            public.discard("testing")  # loaded on demand (tests, the pytest plugin), not by actors
        assert set(module.__all__) == public
        assert len(module.__all__) == len(set(module.__all__))

    def test_every_public_name_is_exported_exactly_once(self) -> None:
        """No object and no name is exported by two namespaces."""
        by_object: dict[int, list[str]] = {}
        by_name: dict[str, list[str]] = {}
        for space, name, obj in _exported():
            by_name.setdefault(name, []).append(space)
            if not isinstance(obj, int | str | float):
                by_object.setdefault(id(obj), []).append(f"{space}.{name}")
        assert {n: s for n, s in by_name.items() if len(s) > 1} == {}
        assert [s for s in by_object.values() if len(s) > 1] == []

    def test_public_names_come_from_private_modules(self) -> None:
        """Every exported class and function is defined in a private module."""
        for space, name, obj in _exported():
            module = getattr(obj, "__module__", None)
            if module is not None and module.split(".")[0] in ("actors", "registry"):
                private = [part for part in module.split(".")[1:] if part.startswith("_")]
                assert private, (space, name, module)

    def test_the_daily_namespace_is_small(self) -> None:
        """The lower-level pieces and the cron store stay out of ``actors``."""
        for name in ("JobStore", "Job", "Recovery", "MessageQueue", "Calendar", "park"):
            assert not hasattr(actors, name), name
        assert not hasattr(actors, "PgJobStore")  # the PostgreSQL store is actors.cron's
        assert len(actors.__all__) <= 100

    def test_version_is_the_package_version(self) -> None:
        assert actors.__version__ == importlib.metadata.version("actors")


class TestReadme:
    def test_readme_example_runs(self, capsys: object) -> None:
        """The first Python block of the README runs and prints what it says."""
        text = (ROOT / "README.md").read_text()
        block = re.findall(r"```python\n(.*?)```", text, re.S)[0]
        namespace: dict[str, object] = {}
        exec(compile(block, "README.md", "exec"), namespace)
        out = capsys.readouterr().out.splitlines()  # type: ignore[attr-defined]
        assert out[0] == "hello"
        assert out[1].startswith("Exit(pid=PID({main|0x00002}), reason=<ExitReason.ERROR")
        assert "Terminated('terminated')" in out[1]
