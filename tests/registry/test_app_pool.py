"""The ``pool`` entry kind: declared in _index.yaml, checked at load, started at boot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import trio
import trio.testing

import actors
import registry
from registry import IndexFileError

Write = Callable[..., Path]

WORKERS = """
import actors


async def resize(proc, scale):
    while True:
        got = await actors.select(proc.inbox, proc.events)
        if got.source is proc.events:
            if isinstance(got.value, actors.Cancel):
                return
            continue
        proc.reply(got.value, got.value.payload * scale)
"""

INDEX = """
version: "1.0"
namespace: app
entries:
  - name: resize
    kind: process
    source: file://workers.py
    method: resize
  - name: resizers
    kind: process.pool
    process: resize
    size: 3
    routing: consistent_hash
    input: [10]
    lifecycle:
      max_restarts: 4
      restart: {initial_delay: 200ms, max_delay: 1s, jitter: 0}
"""


class TestPoolEntry:
    def test_plan_has_the_pool(self, write: Write) -> None:
        """The pool entry becomes a plan with its options; the Wippy spelling is accepted."""
        write("app/workers.py", WORKERS)
        plan = registry.load_app(write("app/_index.yaml", INDEX).parent)
        (pool,) = plan.pools
        assert pool.id == "app:resizers"
        assert pool.args == (10,)
        assert pool.options["size"] == 3
        assert pool.options["routing"] == "consistent_hash"
        assert pool.options["max_restarts"] == 4
        assert pool.options["backoff"].initial == 0.2

    async def test_boot_starts_the_pool(self, write: Write) -> None:
        """After boot the pool is running under its entry id and answers calls."""
        write("app/workers.py", WORKERS)
        root = write("app/_index.yaml", INDEX).parent
        async with actors.open_node() as node:
            await registry.boot_app(node, root)
            pool = actors.pool("app:resizers", node)
            await trio.testing.wait_all_tasks_blocked()
            assert len([w for w in pool.workers() if w is not None]) == 3
            assert await pool.call("x", 4, key="user-1") == 40
            assert node.lookup("app:resizers") == pool.pid

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("size", "0", "field size: must be at least 1, got 0"),
            ("size", "20000", "must be at most 10000"),
            ("routing", "random", "expected one of round_robin"),
            ("process", "missing", "missing"),
        ],
    )
    def test_bad_fields_name_file_entry_and_field(
        self, write: Write, field: str, value: str, message: str
    ) -> None:
        """A bad pool field is an IndexFileError naming the entry, the field and the value."""
        write("app/workers.py", WORKERS)
        was = {"size": "3", "routing": "consistent_hash", "process": "resize"}[field]
        bad = INDEX.replace(f"{field}: {was}", f"{field}: {value}")
        with pytest.raises(IndexFileError) as info:
            registry.load_app(write("app/_index.yaml", bad).parent)
        text = str(info.value)
        assert "app:resizers" in text
        assert message in text
        assert "_index.yaml" in text


def test_a_pool_input_its_process_cannot_take_is_refused(write: Write) -> None:
    """The workers are spawned as ``fn(proc, *input)``: checked at load, like a service's."""
    write("app/workers.py", WORKERS)
    bad = INDEX.replace("input: [10]", "input: [10, 20]")
    with pytest.raises(IndexFileError) as info:
        registry.load_app(write("app/_index.yaml", bad).parent)
    text = str(info.value)
    assert "app:resizers" in text and "input" in text and "(proc, scale)" in text
