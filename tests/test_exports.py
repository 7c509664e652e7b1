"""The public surface: every public name re-exported once, README example works."""

from __future__ import annotations

import re
from pathlib import Path

import actors
import registry

ROOT = Path(__file__).resolve().parents[1]


class TestExports:
    def test_all_lists_every_public_name(self) -> None:
        """__all__ names exactly the public attributes of the package."""
        public = {n for n in vars(actors) if not n.startswith("_")}
        modules = {n for n in public if type(getattr(actors, n)).__name__ == "module"}
        assert set(actors.__all__) == public - modules
        assert len(actors.__all__) == len(set(actors.__all__))

    def test_registry_all_lists_every_public_name(self) -> None:
        """registry.__all__ names exactly its public attributes (``funcs`` is a public module)."""
        public = {n for n in vars(registry) if not n.startswith("_")}
        assert set(registry.__all__) == public

    def test_public_names_come_from_private_modules(self) -> None:
        """Every exported object is defined in a private actors module."""
        for name in actors.__all__:
            obj = getattr(actors, name)
            module = getattr(obj, "__module__", None)
            if module is not None and module.startswith("actors"):
                assert module.split(".")[1].startswith("_"), (name, module)


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
