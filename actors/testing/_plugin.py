"""The pytest plugin of ``actors.testing`` (entry point ``pytest11: actors``).

Fixtures:

- ``actors_node``: a :class:`~actors.testing.TestNode`. Async tests that use it run under
  pytest-trio on an autojump ``MockClock`` (virtual time) unless they ask for a clock fixture
  themselves (``mock_clock``, ``autojump_clock``) or carry a ``real_time`` mark.
- ``actors_logs``: a :class:`~actors.testing.LogCapture` of every logger for the test.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import pytest
import trio
import trio.testing

from ._logs import LogCapture, capture_logs
from ._node import TestNode, open_test_node


@pytest.fixture
async def actors_node() -> AsyncIterator[TestNode]:
    """A test node on virtual time (autojump); stopped when the test ends."""
    async with open_test_node() as node:
        yield node


@pytest.fixture
def actors_logs() -> Iterator[LogCapture]:
    """Every log record of the test, with ``assert_logged`` in the ``key=value`` style."""
    with capture_logs() as logs:
        yield logs


def virtual_run(
    fn: Callable[[], Any],
    *,
    clock: trio.abc.Clock | None = None,
    instruments: Sequence[trio.abc.Instrument] = (),
) -> Any:
    """``trio.run`` on an autojump ``MockClock`` unless a clock is given."""
    if clock is None:
        clock = trio.testing.MockClock(autojump_threshold=0)
    return trio.run(fn, clock=clock, instruments=instruments)


_CLOCK_FIXTURES = {"mock_clock", "autojump_clock"}


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``real_time`` mark (so ``--strict-markers`` accepts it)."""
    config.addinivalue_line(
        "markers",
        "real_time: run this async test on the real clock instead of the virtual autojump"
        " clock actors_node tests get by default",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run async tests that use ``actors_node`` under pytest-trio (see the module docstring).

    On virtual time by default; on the real clock with a ``real_time`` mark or
    a clock fixture of the test's own.
    """
    for item in items:
        fn = getattr(item, "obj", None)
        fixtures = set(getattr(item, "fixturenames", ()))
        if not inspect.iscoroutinefunction(fn) or "actors_node" not in fixtures:
            continue
        if fixtures & _CLOCK_FIXTURES:
            continue  # the test's own clock fixture decides
        if item.get_closest_marker("real_time") is not None:
            if item.get_closest_marker("trio") is None:
                item.add_marker(pytest.mark.trio, append=False)
        else:
            item.add_marker(pytest.mark.trio(run=virtual_run), append=False)
