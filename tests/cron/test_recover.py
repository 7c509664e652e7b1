"""Start-up recovery in steps (actors/cron/_recover.py): the same repair as ``recover()``,
without holding the event loop, waiting for locks with trio.sleep, stoppable by a Cancel."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from functools import partial
from pathlib import Path

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import actors
from actors.cron import JobStore, Recovery, _recover, _tidy, cron_service, write_trigger
from actors.cron import TriggerFile as Trigger

T0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
MIN = dt.timedelta(minutes=1)
IDS = ("a", "b", "c", "d")


@pytest.fixture(name="store")
def fixture_store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "data", clock=lambda: T0)


@pytest.fixture(name="every_step")
def fixture_every_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """A step budget of 0: every file read or repaired is a step of its own."""
    monkeypatch.setattr(_recover, "STEP_BUDGET", 0.0)


def _hold(store: JobStore, job_id: str) -> Path:
    """Hold a job's lock as a live process would (this one: never stale)."""
    lock = store.jobs_dir / f".{job_id}.lock"
    lock.write_text(str(os.getpid()))
    return lock


async def test_a_held_lock_is_waited_for_on_trio_time(store: JobStore, every_step: None) -> None:
    """While ``actors cron`` holds a job's lock, recovery sleeps in trio (other tasks run) and
    repairs the job once the lock is released."""
    store.add("a", "* * * * *", "t")
    write_trigger(store.triggers_dir, Trigger(target="t", prompt="p", job_id="a", scheduled_for=T0))
    lock = _hold(store, "a")
    ticks = 0
    found: list[Recovery] = []

    async def recover() -> None:
        found.append(await store.recover_async())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(recover)
        while trio.current_time() < 2:
            await trio.sleep(0.1)
            ticks += 1
        assert not found  # still waiting, and the loop was not held meanwhile
        lock.unlink()
    assert ticks == 20
    assert found[0].rolled_forward == ("a",)
    assert store.get("a").last_fired_at == T0


async def test_a_lock_held_for_5_s_times_out_naming_it(store: JobStore) -> None:
    store.add("a", "* * * * *", "t")
    lock = _hold(store, "a")
    began = trio.current_time()
    with pytest.raises(TimeoutError, match=r"lock '.*\.a\.lock' held for over 5 s"):
        await store.recover_async()
    assert trio.current_time() - began == pytest.approx(5.0, abs=0.05)
    assert lock.exists()


async def test_a_cancel_stops_recovery_between_steps(store: JobStore, every_step: None) -> None:
    """A Cancel that comes while the service is still reading its backlog ends the service at
    once; the job is left for the next start's recovery (nothing half done)."""
    store.add("a", "0 0 1 1 *", "t")
    for n in range(200):
        trigger = Trigger(target="t", prompt="p", job_id="a", scheduled_for=T0 + n * MIN)
        write_trigger(store.triggers_dir, trigger)
    async with actors.open_node() as node:
        pid = node.spawn(partial(cron_service, data_dir=store.path, role="schedule"))
        await trio.lowlevel.checkpoint()
        node.cancel(pid)
        exit = await node.wait_exit(pid)
    assert exit.reason is actors.ExitReason.SHUTDOWN
    assert exit.error is None
    assert store.get("a").last_fired_at is None  # recovery was stopped before the repair
    assert store.recover().rolled_forward == ("a",)  # and the next one completes it


# --------------------------------------------- sync and async agree, whatever the folder

_jobs = st.dictionaries(
    st.sampled_from(IDS),
    st.tuples(st.booleans(), st.booleans(), st.none() | st.integers(0, 5)),  # oneshot, enabled
    max_size=len(IDS),
)
_triggers = st.lists(
    st.tuples(st.sampled_from((*IDS, "ghost", None)), st.none() | st.integers(0, 5)), max_size=8
)


def _populate(
    root: Path,
    jobs: dict[str, tuple[bool, bool, int | None]],
    triggers: list[tuple[str | None, int | None]],
    junk: bool,
) -> JobStore:
    store = JobStore(root, clock=lambda: T0)
    for job_id, (oneshot, enabled, fired) in jobs.items():
        store.add(job_id, "* * * * *", "t", oneshot=oneshot, enabled=enabled, id=job_id)
        if fired is not None:
            store.mark_fired(job_id, T0 + fired * MIN)
    for job_id, slot in triggers:
        scheduled = None if slot is None else T0 + slot * MIN
        write_trigger(
            store.triggers_dir,
            Trigger(target="t", prompt="p", job_id=job_id, scheduled_for=scheduled),
        )
    if junk:
        (store.triggers_dir / "zz-broken.json").write_text("{")
        (store.jobs_dir / "Not An Id.json").write_text("{}")
        old = time.time() - 120
        for temp in (store.jobs_dir / ".a.json.1.tmp", store.triggers_dir / ".x.json.2.tmp"):
            temp.write_text("{")
            os.utime(temp, (old, old))
    return store


State = tuple[list[str], tuple[str, ...], tuple[str, ...], list[tuple[str, bool, object]]]


def _state(store: JobStore, recovery: Recovery) -> State:
    removed = sorted(str(p.relative_to(store.path)) for p in recovery.removed_files)
    jobs = [(j.id, j.enabled, j.last_fired_at) for j in store.list()]
    return removed, recovery.rolled_forward, recovery.removed_oneshots, jobs


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jobs=_jobs, triggers=_triggers, junk=st.booleans())
def test_in_steps_or_at_once_the_repair_is_the_same(
    jobs: dict[str, tuple[bool, bool, int | None]],
    triggers: list[tuple[str | None, int | None]],
    junk: bool,
) -> None:
    """``recover()`` and ``recover_async()`` with a step per file leave the same folder and
    report the same repairs, and those are the documented ones."""
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr(_recover, "STEP_BUDGET", 0.0)
        at_once = _populate(Path(tmp) / "sync", jobs, triggers, junk)
        in_steps = _populate(Path(tmp) / "async", jobs, triggers, junk)
        expected = _state(at_once, at_once.recover())
        assert _state(in_steps, trio.run(in_steps.recover_async)) == expected
    latest: dict[str, int] = {}
    for job_id, slot in triggers:
        if job_id is not None and slot is not None:
            latest[job_id] = max(slot, latest.get(job_id, slot))
    pending = {job_id for job_id, _ in triggers}
    ordered = sorted(jobs.items())
    rolled = [j for j, (_, _, at) in ordered if j in latest and (at is None or at < latest[j])]
    # a fired oneshot is disabled (mark_fired): with no pending trigger it was delivered
    gone = [j for j, (oneshot, _, at) in ordered if oneshot and at is not None and j not in pending]
    assert expected[1] == tuple(rolled)
    assert expected[2] == tuple(gone)


# ------------------------------------------------------------ forgetting removed jobs

DAY = 86400.0


def _aged(path: Path, days: float) -> Path:
    """Create ``path`` last written ``days`` ago."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}\n")
    when = time.time() - days * DAY
    os.utime(path, (when, when))
    return path


def _leftovers(store: JobStore, job_id: str, days: float) -> list[Path]:
    """A history file and a dead letter of ``job_id``, last written ``days`` ago."""
    dead = store.triggers_dir / "dead" / f"20300101T000000.000000Z-000000-{job_id}.json"
    return [_aged(store.path / "history" / f"{job_id}.jsonl", days), _aged(dead, days)]


def test_a_removed_jobs_files_go_after_30_days(store: JobStore, every_step: None) -> None:
    """History and dead letters of a removed job go once 30 days old; a live job's and an
    external trigger's stay, whatever their age."""
    store.add("live", "* * * * *", "t", id="live")
    gone = _leftovers(store, "gone", 31)
    kept = [
        *_leftovers(store, "live", 400),
        *_leftovers(store, "recent", 29),  # removed, but not long ago
        _aged(store.triggers_dir / "dead" / "20300101T000000.000000Z-000000-external.json", 99),
    ]
    removed = _recover.run_steps(_tidy.tidy_steps(store.path))
    assert sorted(removed) == sorted(gone)
    assert all(path.exists() for path in kept)
    assert _recover.run_steps(_tidy.tidy_steps(store.path)) == []


def test_a_store_without_history_or_dead_letters_is_fine(store: JobStore) -> None:
    assert _recover.run_steps(_tidy.tidy_steps(store.path)) == []


async def test_the_service_tidies_at_start_and_every_hour(store: JobStore) -> None:
    first = _leftovers(store, "gone", 31)
    async with actors.open_node() as node:
        node.spawn(partial(cron_service, data_dir=store.path), name="cron")
        await trio.sleep(1)
        assert not any(path.exists() for path in first)
        later = _leftovers(store, "other", 45)
        await trio.sleep(_tidy.TIDY_INTERVAL - 10)
        assert all(path.exists() for path in later)
        await trio.sleep(20)
        assert not any(path.exists() for path in later)
        node.cancel("cron")
