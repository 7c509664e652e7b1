"""Lazy imports: the ``actors`` command starts without the runtime; ``import actors`` is cheap.

Each case runs in a fresh interpreter (``sys.modules`` of this one is full) and reports which
of the heavy modules it loaded.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("trio", "trio.testing", "croniter", "msgspec", "actors._core", "actors._time", "pytest")


def loaded(code: str) -> set[str]:
    """The HEAVY modules that ``code`` imports, in a new interpreter."""
    script = (
        f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def cli(*argv: str) -> str:
    return (
        "import contextlib, io, registry._cli\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):\n"
        "    try:\n"
        f"        registry._cli.main({list(argv)!r})\n"
        "    except SystemExit:\n"
        "        pass\n"
    )


@pytest.mark.parametrize("argv", [("--version",), ("--help",)])
def test_version_and_help_import_no_trio(argv: tuple[str, ...]) -> None:
    assert loaded(cli(*argv)) == set()


def test_commands_import_only_the_client() -> None:
    """``actors ps/tree/info/trace/names/groups/pools`` (here: no node running) need msgspec,
    not the runtime."""
    for argv in (
        ("ps",),
        ("tree",),
        ("info", "1"),
        ("trace", "1"),
        ("info", "--help"),
        ("names", "--all"),
        ("groups", "jobs"),
        ("pools",),
    ):
        assert loaded(cli(*argv)) == {"msgspec"}, argv


def test_import_actors_is_cheap_until_used() -> None:
    assert loaded("import actors, registry") == set()
    used = loaded("import actors\nactors.open_node\nactors.Server\nactors.every")
    assert used == {"trio", "actors._core", "actors._time"}  # no trio.testing, croniter, msgspec


@pytest.mark.parametrize("package", ["actors", "registry"])
def test_lazy_table_matches_the_typed_imports(package: str) -> None:
    """``_WHERE`` (what ``__getattr__`` imports) says what the ``TYPE_CHECKING`` block says."""
    tree = ast.parse((ROOT / package / "__init__.py").read_text())
    typed: dict[str, str] = {}
    table: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            for alias in node.names:
                module = "." + (node.module or "")
                typed[alias.asname or alias.name] = module if node.module else f".{alias.name}"
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "_WHERE":
            table = ast.literal_eval(node.value)  # type: ignore[arg-type]
    assert table == typed
