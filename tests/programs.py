"""Helpers for the example tests: run an app's program in process or as ``actors run -x``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import actors
import registry

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


async def exec_program(
    app_dir: Path, entry: str = "app:cli", *, environ: Mapping[str, str] | None = None
) -> Any:
    """Boot the app on a fresh node, run ``entry`` to its end and return what it returned.

    The node then shuts down (services stopped), as ``actors run -x`` does.
    """
    async with actors.open_node() as node:
        app = await registry.boot_app(node, app_dir, environ=environ)
        return await node.exec(app.process(entry))


def run_program(
    app_dir: Path,
    entry: str = "app:cli",
    *,
    stdin: str = "",
    env: Mapping[str, str | None] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run ``actors run APP_DIR -x ENTRY`` in a subprocess to its end.

    ``env`` adds variables to the environment (a None value removes one).
    """
    environ = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
    for key, value in (env or {}).items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    return subprocess.run(
        [sys.executable, "-m", "registry._cli", "run", str(app_dir), "-x", entry],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environ,
        timeout=timeout,
        check=False,
    )


def clean_exit(done: subprocess.CompletedProcess[str], status: int = 0) -> bool:
    """Whether the program exited with ``status`` after a clean stop and no traceback."""
    last = done.stderr.rstrip().splitlines()[-1:] or [""]
    return (
        done.returncode == status
        and "Traceback" not in done.stderr
        and last[0].split() == ["INFO", "App", "stopped", "clean=true", f"status={status}"]
    )
