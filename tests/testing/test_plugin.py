"""The pytest plugin as a user's project sees it: no trio_mode, ``--strict-markers``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

USER_TESTS = """
import trio
import pytest

from actors.testing import TestNode


async def test_virtual_by_default(actors_node: TestNode) -> None:
    start = trio.current_time()
    await trio.sleep(3600)  # an hour of virtual time, at once
    assert trio.current_time() - start == 3600


@pytest.mark.real_time
async def test_real_time_mark(actors_node: TestNode) -> None:
    start = trio.current_time()
    await trio.sleep(0.01)
    assert 0.01 <= trio.current_time() - start < 30
    pid = actors_node.spawn(echo)
    assert await actors_node.node.call(pid, "echo", 5) == 5


async def echo(proc):
    async for msg in proc.inbox:
        proc.reply(msg, msg.payload)
"""


@pytest.mark.slow
def test_a_user_project_runs_actors_node_tests_with_and_without_real_time(
    tmp_path: Path,
) -> None:
    """``real_time`` is a registered mark, and an actors_node test carrying it runs (real clock)."""
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
