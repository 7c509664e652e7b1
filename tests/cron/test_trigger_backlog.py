"""A huge trigger-file backlog never holds the event loop, and a blocked one costs no I/O (#24).

Work per task step is counted, not timed: a wrapped ``os.scandir`` counts the folder entries
read, and an instrument records the most read within any one task step.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from actors.cron import TriggerFile as Trigger
from actors.cron import _triggerdrain
from actors.cron._triggerdrain import DeliveryLedger, drain, scan_pending
from actors.cron._triggerfiles import encode_trigger, list_pending

T0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)


def _fill(tdir: Path, count: int, target: str = "inbox", start: int = 0) -> None:
    """Write ``count`` trigger files quickly (no fsync), in shuffled creation order."""
    for n in sorted(range(start, start + count), key=lambda n: (n * 7919) % count):
        trigger = Trigger(target=target, prompt=f"p{n}", job_id="job", fired_at=T0)
        (tdir / f"20300101T120000.000000Z-{n:06d}-job.json").write_bytes(encode_trigger(trigger))


@pytest.fixture(name="tdir")
def fixture_tdir(tmp_path: Path) -> Path:
    path = tmp_path / "triggers"
    path.mkdir()
    return path


class EntriesPerStep(trio.abc.Instrument):
    """The most folder entries read within one task step."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.now = 0

    def count(self) -> None:
        self.now += 1
        self.most = max(self.most, self.now)


@pytest.fixture(name="per_step")
def fixture_per_step(monkeypatch: pytest.MonkeyPatch) -> EntriesPerStep:
    meter = EntriesPerStep()
    real = os.scandir

    class Counted:
        def __init__(self, path: Any) -> None:
            self.inner = real(path)

        def __enter__(self) -> Counted:
            return self

        def __exit__(self, *exc: object) -> None:
            self.inner.close()

        def __iter__(self) -> Iterator[os.DirEntry[str]]:
            for entry in self.inner:
                meter.count()
                yield entry

    monkeypatch.setattr(_triggerdrain.os, "scandir", Counted)
    return meter


async def test_listing_yields_between_chunks(
    tdir: Path, per_step: EntriesPerStep, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No task step reads more than one chunk of the folder, however large it is."""
    monkeypatch.setattr(_triggerdrain, "_SCAN_CHUNK", 16)
    _fill(tdir, 300)
    (tdir / ".tmp-file.json.tmp").write_text("x")
    trio.lowlevel.add_instrument(per_step)
    try:
        names = await scan_pending(tdir)
    finally:
        trio.lowlevel.remove_instrument(per_step)
    most = per_step.most
    assert sorted(names) == [p.name for p in list_pending(tdir)]
    assert len(names) == 300
    assert most <= 16


async def test_a_backlog_is_delivered_in_name_order_without_a_sort(tdir: Path) -> None:
    """The heap hands out the files in name (fire) order, each once."""
    _fill(tdir, 100)
    got: list[str | None] = []

    async def deliver(trigger: Trigger) -> None:
        got.append(trigger.prompt)

    assert await drain(tdir, deliver) == 100
    assert got == [f"p{n}" for n in range(100)]
    assert list_pending(tdir) == []


async def test_a_blocked_backlog_is_read_once(tdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files held behind a failed one are read on the first pass only; others still go."""
    _fill(tdir, 50, target="down")
    _fill(tdir, 10, target="up", start=50)
    reads: list[str] = []
    real_parse = _triggerdrain.parse_trigger

    def parse(path: Path) -> Trigger:
        reads.append(path.name)
        return real_parse(path)

    monkeypatch.setattr(_triggerdrain, "parse_trigger", parse)
    up: list[str | None] = []

    async def deliver(trigger: Trigger) -> None:
        if trigger.target == "down" and trio.current_time() < 10:
            raise ConnectionError("down")
        up.append(trigger.prompt)

    ledger = DeliveryLedger()
    assert await drain(tdir, deliver, ledger=ledger) == 10
    assert len(reads) == 60
    reads.clear()
    assert await drain(tdir, deliver, ledger=ledger) == 0  # still backing off
    assert reads == []  # nothing read again
    await trio.sleep(10)
    assert await drain(tdir, deliver, ledger=ledger) == 50
    assert up == [f"p{n}" for n in range(50, 60)] + [f"p{n}" for n in range(50)]
    assert ledger.targets == {}
