"""Shared test configuration: every async test runs on virtual time by default."""

from __future__ import annotations

import atexit
import inspect
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

# Tests import their helpers as a plain module (pytest runs with --import-mode=importlib).
sys.path.insert(0, str(Path(__file__).parent))

# Nodes started by tests (and their subprocesses) register in a runtime folder of this run
# only: never the developer's own, never a parallel run's (tests/control makes one per test).
os.environ["ACTORS_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="actors-run")
atexit.register(shutil.rmtree, os.environ["ACTORS_RUNTIME_DIR"], ignore_errors=True)


def _virtual_run(
    fn: Callable[[], Any],
    *,
    clock: trio.abc.Clock | None = None,
    instruments: Sequence[trio.abc.Instrument] = (),
) -> Any:
    """trio.run with an autojump MockClock unless the test asked for a clock itself."""
    if clock is None:
        clock = trio.testing.MockClock(autojump_threshold=0)
    return trio.run(fn, clock=clock, instruments=instruments)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run async tests under an autojump clock; ``@pytest.mark.real_time`` opts out."""
    for item in items:
        fn = getattr(item, "obj", None)
        if not inspect.iscoroutinefunction(fn) or item.get_closest_marker("real_time"):
            continue
        item.add_marker(pytest.mark.trio(run=_virtual_run))


@pytest.fixture(autouse=True, scope="session")
def _default_signal_dispositions() -> Iterator[None]:
    """Give SIGINT and SIGTERM their default handling for the whole session.

    A test process started in the background (``&``, nohup, some CI runners) inherits SIGINT
    ignored; trio then leaves Ctrl+C alone and every child started by a test inherits the
    ignored signal too (``exec`` keeps ignored dispositions). Tests must not depend on that.
    """
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            if handler is not None:
                signal.signal(sig, handler)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Undo what ``actors run`` (run in process by a test) did to logging: its handler on the
    root logger (writing to a stream the test closes) and the root level."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in list(root.handlers):
        if getattr(handler, "_actors_handler", False):
            root.removeHandler(handler)
    root.setLevel(level)
