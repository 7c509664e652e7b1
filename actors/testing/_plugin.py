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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run async tests that use ``actors_node`` on virtual time (see the module docstring)."""
    for item in items:
        fn = getattr(item, "obj", None)
        fixtures = set(getattr(item, "fixturenames", ()))
        if (
            inspect.iscoroutinefunction(fn)
            and "actors_node" in fixtures
            and not fixtures & _CLOCK_FIXTURES
            and item.get_closest_marker("real_time") is None
        ):
            item.add_marker(pytest.mark.trio(run=virtual_run), append=False)
