"""Hostile input for the durable cron: fuzzed job and trigger files, special files, poison jobs.

The seeds are the files the example ``examples/durable_cron`` writes (its ``ensure_jobs``), then
mutated by Hypothesis: fields replaced by extreme dates and numbers, deep nesting, wrong types,
random bytes. Every case must end in the documented error (``MalformedJob`` / ``MalformedTrigger``
naming the file) or a clean result, within a time bound. ``ACTORS_FUZZ=long`` runs many more
examples (``ACTORS_FUZZ=long pytest tests/cron/test_fuzz_files.py``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import actors
from actors.cron import CRON_TOPIC, CronEvent, JobStore, MalformedJob, cron_service
from actors.cron._atomicfs import MAX_FILE_BYTES, MAX_JSON_DEPTH, lock_is_stale
from actors.cron._job import decode_job
from actors.cron._triggerdrain import DeliveryLedger, drain
from actors.cron._triggerfiles import QUARANTINE, MalformedTrigger, list_pending, parse_trigger

LONG = os.environ.get("ACTORS_FUZZ") == "long"
FUZZ = settings(
    max_examples=1000 if LONG else 40,
    deadline=None,
    derandomize=not LONG,
    suppress_health_check=list(HealthCheck),
)
T0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "durable_cron" / "main.py"


@contextlib.contextmanager
def no_hang(seconds: float = 5.0) -> Iterator[None]:
    """Fail with TimeoutError if the block runs longer than ``seconds`` (SIGALRM)."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"hung for over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _example_seeds() -> tuple[dict[str, Any], dict[str, Any]]:
    """A job file and a trigger file as the durable_cron example writes them."""
    spec = importlib.util.spec_from_file_location("durable_cron_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        example.ensure_jobs(data, "*/5 * * * *", "* * * * * */30")
        store = JobStore(data, clock=lambda: T0)
        path = store.fire("heartbeat", T0 + dt.timedelta(minutes=5), now=T0)
        assert path is not None
        job = json.loads((store.jobs_dir / "hello-once.json").read_text())
        return job, json.loads(path.read_text())


JOB_SEED, TRIGGER_SEED = _example_seeds()


DEPTHS = (MAX_JSON_DEPTH - 2, MAX_JSON_DEPTH + 1, 200, 100_000)


def _deep_text(depth: int) -> str:
    """JSON nested ``depth`` levels deep, alternating arrays and objects (built as text)."""
    opens = "".join("[" if n % 2 else '{"k":' for n in range(depth))
    return opens + "1" + "".join("]" if n % 2 else "}" for n in reversed(range(depth)))


EXTREME_TIMES = st.sampled_from(
    [
        "0001-01-01T00:00:00+01:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-01:00",
        "9999-12-31T23:59:59.999999Z",
        "1899-12-31T23:59:59Z",
        "3000-01-01T00:00:00Z",
        "2030-02-30T00:00:00Z",
        "2030-01-01T00:00:00",
        "2030-01-01T25:00:00Z",
        "2" * 200,
        "",
    ]
)
EXTREME_NUMBERS = st.sampled_from([10**400, -(10**400), 1e308, -1e308, 0, -1, 2**63, 2**64 + 1])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    EXTREME_NUMBERS,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    EXTREME_TIMES,
    st.sampled_from(["{bad", "{main|0x00003}", "* * * * * *", "*/10 * * * * *", "61 * * * *"]),
    st.sampled_from(
        [
            "CRON_TZ=Europe/Berlin 30 2 * * *",
            "CRON_TZ=../../etc/passwd * * * * *",
            "CRON_TZ= * * * * *",
            "@every 90s",
            "@every 0s",
            "@every 1m jitter=2m",
            "@every 1m start=0001-01-01T00:00:00+01:00",
            "@every 1m color=red",
            "@every 99999999999999h",
        ]
    ),
)
VALUES = st.one_of(
    SCALARS,
    st.sampled_from([f"@@deep{depth}@@" for depth in DEPTHS]),
    st.lists(SCALARS, max_size=3),
    st.dictionaries(st.text(max_size=5), SCALARS, max_size=3),
)


@st.composite
def mutated(draw: st.DrawFn, seed: dict[str, Any]) -> bytes:
    """A seed with some fields replaced, removed or added, encoded in one of several ways."""
    data = dict(seed)
    for _ in range(draw(st.integers(1, 3))):
        field = draw(st.sampled_from([*seed, "extra"]))
        if draw(st.integers(0, 5)) == 0:
            data.pop(field, None)
        else:
            data[field] = draw(VALUES)
    text = json.dumps(data, allow_nan=True)
    for depth in DEPTHS:
        text = text.replace(f'"@@deep{depth}@@"', _deep_text(depth))
    how = draw(st.integers(0, 4))
    if how == 1:  # torn: cut anywhere
        text = text[: draw(st.integers(0, len(text)))]
    elif how == 2:  # a byte flipped
        at = draw(st.integers(0, len(text) - 1))
        text = (
            text[:at] + draw(st.sampled_from(["\x00", "[", "{", '"', "\\", "}"])) + text[at + 1 :]
        )
    raw = text.encode()
    if how == 3:
        raw = draw(st.binary(max_size=64))
    return raw


def _deep_json() -> bytes:
    return b"[" * 100_000 + b"]" * 100_000


@pytest.mark.slow
class TestFuzzedFiles:
    @FUZZ
    @given(raw=mutated(JOB_SEED))
    def test_job_file_is_a_job_or_malformed_job_naming_the_file(self, raw: bytes) -> None:
        """decode_job never raises anything but MalformedJob, whose message names the file."""
        path = Path("/data/jobs/hello-once.json")
        with no_hang():
            try:
                job = decode_job(path, raw)
            except MalformedJob as exc:
                error = exc
            else:
                error = None
        if error is not None:
            assert str(path) in str(error) and error.reason
            return
        assert (
            dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
            <= job.created_at
            < dt.datetime(3000, 1, 1, tzinfo=dt.UTC)
        )

    @FUZZ
    @given(raw=mutated(TRIGGER_SEED))
    def test_trigger_file_is_a_trigger_or_malformed_naming_the_file(self, raw: bytes) -> None:
        """parse_trigger never raises anything but MalformedTrigger (or FileNotFoundError)."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "20300101T120000.000000Z-000000-x.json"
            path.write_bytes(raw)
            error: MalformedTrigger | None = None
            with no_hang():
                try:
                    parse_trigger(path)
                except MalformedTrigger as exc:
                    error = exc
            assert error is None or (str(path) in str(error) and error.reason)

    @FUZZ
    @given(raws=st.lists(mutated(TRIGGER_SEED), min_size=1, max_size=4))
    async def test_drain_pass_delivers_or_quarantines_every_file(self, raws: list[bytes]) -> None:
        """A drain pass over fuzzed files never raises: each is delivered or quarantined."""
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            for n, raw in enumerate(raws):
                (folder / f"{n:03d}.json").write_bytes(raw)
            delivered: list[object] = []

            async def deliver(trigger: object) -> None:
                delivered.append(trigger)

            with no_hang():
                count = await drain(folder, deliver, malformed_grace=0)
            quarantined = list((folder / QUARANTINE).glob("*.json")) if count < len(raws) else []
            assert count == len(delivered)
            assert count + len(quarantined) == len(raws)
            assert list_pending(folder) == []

    def test_deep_nesting_and_huge_files_are_malformed_not_crashes(self, tmp_path: Path) -> None:
        """100,000-deep JSON and a file over the size cap are reasons, not RecursionError."""
        deep = tmp_path / "deep.json"
        deep.write_bytes(_deep_json())
        huge = tmp_path / "huge.json"
        huge.write_bytes(b" " * (5 << 20) + b"{}")
        with no_hang():
            with pytest.raises(MalformedTrigger, match="nested deeper than 64 levels"):
                parse_trigger(deep)
            with pytest.raises(MalformedTrigger, match=r"over the limit of 4194304"):
                parse_trigger(huge)
            with pytest.raises(MalformedJob, match="nested deeper than 64 levels"):
                decode_job(deep, deep.read_bytes())

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("0001-01-01T00:00:00+01:00", "field 'created_at' is out of range"),
            ("9999-12-31T23:59:59-01:00", "field 'created_at' is out of range"),
            ("9999-12-31T00:00:00Z", "field 'created_at' is out of range"),
            ("x" * 1000, "field 'created_at' is not an ISO 8601 time"),
        ],
    )
    def test_extreme_created_at_names_field_and_value(self, value: str, message: str) -> None:
        """Year 1 or 9999 with an offset is a field error, not OverflowError."""
        raw = json.dumps(JOB_SEED | {"created_at": value}).encode()
        with pytest.raises(MalformedJob, match=message) as info:
            decode_job(Path("j.json"), raw)
        assert value[:20] in str(info.value)


def _special_files(folder: Path) -> list[str]:
    """Make one of each hostile entry in ``folder``; return their names."""
    os.mkfifo(folder / "fifo.json")
    (folder / "dir.json").mkdir()
    (folder / "loop.json").symlink_to(folder / "loop.json")
    (folder / "dangling.json").symlink_to(folder / "nowhere")
    (folder / "dev.json").symlink_to("/dev/zero")
    (folder / "huge.json").write_bytes(b" " * (MAX_FILE_BYTES * 4 + 1))
    return ["fifo.json", "dir.json", "loop.json", "dangling.json", "dev.json", "huge.json"]


class TestSpecialFiles:
    async def test_triggers_folder_with_fifo_dir_and_symlink_loop(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """No raw OSError, no hang: special files are quarantined; a folder is logged once."""
        store = JobStore(tmp_path)
        names = _special_files(store.triggers_dir)
        (store.triggers_dir / "good.json").write_text('{"target": "x", "prompt": "hi"}')
        got: list[object] = []

        async def deliver(trigger: object) -> None:
            got.append(trigger)

        ledger = DeliveryLedger()
        with no_hang(), caplog.at_level(logging.WARNING, "actors.cron"):
            assert await drain(store.triggers_dir, deliver, ledger=ledger, malformed_grace=0) == 1
            assert await drain(store.triggers_dir, deliver, ledger=ledger, malformed_grace=0) == 0
        quarantined = {p.name for p in (store.triggers_dir / QUARANTINE).iterdir()}
        assert set(names) - {"dir.json"} <= quarantined
        assert {p.name for p in list_pending(store.triggers_dir)} == {"dir.json"}
        folder_logs = [r for r in caplog.records if "dir.json" in r.getMessage()]
        assert len(folder_logs) == 1 and "not a regular file (a folder)" in folder_logs[0].message

    def test_jobs_folder_with_special_files_lists_the_good_jobs(self, tmp_path: Path) -> None:
        """list() skips each hostile entry with a reason naming it; the good job is listed."""
        store = JobStore(tmp_path)
        store.add("good", "* * * * *", "inbox", prompt="p")
        _special_files(store.jobs_dir)
        with no_hang():
            assert [j.id for j in store.list()] == ["good"]
            problems = {p.name: reason for p, reason in store.load_problems()}
        assert "not a regular file (a FIFO)" in problems["fifo.json"]
        assert "not a regular file (a folder)" in problems["dir.json"]
        assert "cannot read the file" in problems["loop.json"]
        assert "a symlink to a missing file" in problems["dangling.json"]
        assert "not a regular file (a character device)" in problems["dev.json"]
        assert "over the limit of 1048576" in problems["huge.json"]

    def test_heartbeat_fifo_is_skipped_not_blocking(self, tmp_path: Path) -> None:
        """A heartbeat file that is a FIFO would block a read: the fire is skipped and logged."""
        store = JobStore(tmp_path, clock=lambda: T0)
        os.mkfifo(tmp_path / "beat.md")
        store.add("beat", "* * * * *", "inbox", prompt="p", heartbeat_file="beat.md")
        with no_hang():
            assert store.fire("beat", T0 + dt.timedelta(minutes=1)) is None


class Wall:
    def __call__(self) -> dt.datetime:
        return T0 + dt.timedelta(seconds=trio.current_time())


async def _sink(proc: actors.Process, got: list[CronEvent]) -> None:
    async for msg in proc.inbox:
        assert msg.topic == CRON_TOPIC
        got.append(msg.payload)


def _poison(job_id: str, **fields: str) -> bytes:
    return json.dumps(JOB_SEED | {"id": job_id} | fields).encode()


POISON: dict[str, bytes | None] = {
    "deep": b"[" * 100_000 + b"]" * 100_000,
    "year-one": _poison("year-one", created_at="0001-01-01T00:00:00+01:00"),
    "year-9999": _poison("year-9999", created_at="9999-12-31T00:00:00Z"),
    "last-fired": _poison("last-fired", last_fired_at="9999-12-31T23:59:59-01:00"),
    "bad-pid": _poison("bad-pid", target="{bad"),
    "seconds-first": _poison("seconds-first", cron="*/10 * * * * *"),
    "nul": b"\x00" * 10,
    "fifo": None,
}


@pytest.mark.slow
class TestPoisonJobs:
    async def test_service_keeps_firing_the_good_job(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Poison job files present at start and dropped while running never stop the service."""
        store = JobStore(tmp_path, clock=Wall())
        store.add("good", "* * * * *", "inbox", prompt="tick")
        half = len(POISON) // 2

        def drop(items: list[tuple[str, bytes | None]]) -> None:
            for name, raw in items:
                path = store.jobs_dir / f"{name}.json"
                if raw is None:
                    os.mkfifo(path)
                else:
                    path.write_bytes(raw)

        drop(list(POISON.items())[:half])
        got: list[CronEvent] = []
        with caplog.at_level(logging.ERROR, "actors.cron"):
            async with actors.open_node() as node:
                node.spawn(_sink, got, name="inbox")
                cron = node.spawn(
                    partial(cron_service, data_dir=tmp_path, wall_clock=Wall()), name="cron"
                )
                await trio.sleep(150)
                drop(list(POISON.items())[half:])
                await trio.sleep(160)
                assert node.is_alive(cron)
        assert [e.scheduled_for for e in got] == [T0 + dt.timedelta(minutes=n) for n in range(1, 6)]
        skipped = "\n".join(r.getMessage() for r in caplog.records)
        for name in POISON:
            assert f"{name}.json" in skipped


LOCK_WRITER = """
import os, signal, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
os.kill(os.getpid(), signal.SIGKILL)  # killed between creating the lock and writing its pid
"""


@pytest.mark.slow
class TestBrokenLocks:
    def _killed_writer_lock(self, lock: Path) -> None:
        proc = subprocess.run([sys.executable, "-c", LOCK_WRITER, str(lock)], check=False)
        assert proc.returncode == -signal.SIGKILL
        assert lock.exists() and lock.read_bytes() == b""

    def test_empty_lock_of_a_killed_writer_is_broken_at_once(self, tmp_path: Path) -> None:
        """A writer SIGKILLed between creating the lock and writing its pid stalls nothing."""
        store = JobStore(tmp_path, clock=lambda: T0)
        store.add("job", "* * * * *", "inbox", prompt="p")
        self._killed_writer_lock(store.jobs_dir / ".job.lock")
        started = time.monotonic()
        assert store.fire("job", T0 + dt.timedelta(minutes=1)) is not None
        assert store.disable("job").enabled is False
        assert time.monotonic() - started < 1.0

    def test_recover_removes_empty_garbage_and_dead_locks(self, tmp_path: Path) -> None:
        """recover() at start breaks every lock no live process can own, whatever its age."""
        store = JobStore(tmp_path)
        empty = store.jobs_dir / ".a.lock"
        self._killed_writer_lock(empty)
        garbage = store.jobs_dir / ".b.lock"
        garbage.write_bytes(b"\xff\xfe not a pid")
        dead = store.jobs_dir / ".c.lock"
        dead.write_text(str(_dead_pid()))
        folder = store.jobs_dir / ".d.lock"
        folder.mkdir()
        live = store.jobs_dir / ".e.lock"
        live.write_text(str(os.getppid()))
        removed = set(store.recover().removed_files)
        assert removed == {empty, garbage, dead, folder}
        assert live.exists()

    def test_lock_file_is_never_empty_while_held(self, tmp_path: Path) -> None:
        """Our own locks hold the pid from the moment they exist, so emptiness means a crash."""
        store = JobStore(tmp_path)
        store.add("job", "* * * * *", "inbox", prompt="p")
        with store._lock("job") as held:
            lock = store.jobs_dir / ".job.lock"
            assert held and lock.read_text() == str(os.getpid())
            assert not lock_is_stale(lock, 30.0)


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True)  # fmt: skip
    return int(proc.stdout)
