"""Tests for the durable cron job store (actors/cron/_store.py)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import attrs
import pytest

from actors.cron import (
    InvalidJobId,
    Job,
    JobExists,
    JobNotFound,
    JobStore,
    MalformedJob,
    write_trigger,
)
from actors.cron import TriggerFile as Trigger
from actors.cron._store import slugify, validate_cron, validate_job_id
from actors.cron._triggerfiles import list_pending, parse_trigger

ROOT = Path(__file__).resolve().parents[2]
CRASHER = Path(__file__).resolve().parent / "crashers" / "write_jobs.py"
T0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(name="store")
def fixture_store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "data")


def _write_job_file(store: JobStore, name: str, content: str | bytes) -> Path:
    path = store.jobs_dir / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def _valid_json(**changes: object) -> dict[str, object]:
    job = Job(
        id="ok",
        name="ok",
        cron="* * * * *",
        target="inbox",
        prompt="hi",
        created_at=T0,
    )
    return job.to_json() | changes


class TestIds:
    def test_slugify_makes_lowercase_ascii_words(self) -> None:
        """slugify lowercases, strips accents and joins words with single hyphens."""
        assert slugify("  Remind Me: Café Break!! ") == "remind-me-cafe-break"

    def test_slugify_caps_length_and_falls_back(self) -> None:
        """slugify cuts to 48 characters and turns an empty result into 'job'."""
        assert len(slugify("x" * 200)) == 48
        assert slugify("!!! ???") == "job"
        assert slugify("日本語") == "job"

    @pytest.mark.parametrize(
        "bad", ["../x", "/etc/passwd", "", ".", "..", "a/b", "a\x00b", "A", "-x", "a" * 65, 3]
    )
    def test_unsafe_ids_are_rejected(self, bad: object) -> None:
        """validate_job_id rejects traversal, absolute paths, dots, NUL and non-slugs."""
        with pytest.raises(InvalidJobId, match=r"^invalid job id "):
            validate_job_id(bad)

    @pytest.mark.parametrize("method", ["get", "remove", "enable", "disable"])
    def test_store_methods_reject_traversal(self, store: JobStore, method: str) -> None:
        """Every store method that takes an id refuses one that escapes jobs/."""
        with pytest.raises(InvalidJobId, match=r"'\.\./escape'"):
            getattr(store, method)("../escape")

    def test_explicit_traversal_id_on_add_is_rejected(self, store: JobStore) -> None:
        """add(id=...) validates the id before touching the disk."""
        with pytest.raises(InvalidJobId):
            store.add("x", "* * * * *", "inbox", id="../../x")
        assert list(store.jobs_dir.iterdir()) == []


class TestCrud:
    def test_add_get_list_remove(self, store: JobStore) -> None:
        """A job added can be read back, listed and removed."""
        job = store.add("Remind User", "*/5 * * * *", "inbox", prompt="break", payload={"a": 1})
        assert job.id == "remind-user"
        assert store.get("remind-user") == job
        assert store.list() == [job]
        assert store.remove("remind-user") == job
        assert store.list() == []

    def test_jobs_persist_across_reopen(self, store: JobStore) -> None:
        """A new store on the same folder sees the same jobs with the same fields."""
        job = store.add("a", "0 9 * * 1", "t", prompt="p", oneshot=True, metadata={"k": [1]})
        store.disable(job.id)
        reopened = JobStore(store.path)
        assert reopened.get(job.id) == attrs.evolve(job, enabled=False)

    def test_same_name_gets_numbered_suffixes(self, store: JobStore) -> None:
        """Colliding slugs get -2, -3 ... suffixes."""
        ids = [store.add("Daily", "@daily", "t").id for _ in range(3)]
        assert ids == ["daily", "daily-2", "daily-3"]

    def test_explicit_id_collision_raises(self, store: JobStore) -> None:
        """add with an explicit id that is taken raises JobExists naming it."""
        store.add("hb", "* * * * *", "t", id="heartbeat")
        with pytest.raises(JobExists, match=r"^a cron job with id 'heartbeat' already exists$"):
            store.add("hb", "* * * * *", "t", id="heartbeat")

    @pytest.mark.parametrize("method", ["get", "remove", "enable", "disable"])
    def test_unknown_id_raises_job_not_found(self, store: JobStore, method: str) -> None:
        """An unknown id raises JobNotFound, a KeyError and LookupError, naming the id."""
        with pytest.raises(JobNotFound) as info:
            getattr(store, method)("nope")
        assert isinstance(info.value, KeyError)
        assert isinstance(info.value, LookupError)
        assert str(info.value) == "no cron job with id 'nope'"

    def test_enable_disable(self, store: JobStore) -> None:
        """disable and enable flip the stored flag."""
        job = store.add("x", "* * * * *", "t")
        assert not store.disable(job.id).enabled
        assert not store.get(job.id).enabled
        assert store.enable(job.id).enabled

    @pytest.mark.parametrize("cron", ["bogus", "61 * * * *", "0 0 31 2 *", "0 0 30 2 *"])
    def test_add_rejects_bad_or_impossible_cron(self, store: JobStore, cron: str) -> None:
        """add refuses an invalid cron expression or one that can never fire."""
        with pytest.raises(ValueError, match=r"cron expression"):
            store.add("x", cron, "t")

    def test_add_rejects_bad_catch_up_and_target(self, store: JobStore) -> None:
        """add refuses an unknown catch_up policy and an empty target."""
        with pytest.raises(ValueError, match="catch_up"):
            store.add("x", "* * * * *", "t", catch_up="sometimes")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="target"):
            store.add("x", "* * * * *", "")

    def test_job_json_round_trip(self) -> None:
        """Job.to_json and Job.from_json are inverses, through real JSON text."""
        job = Job(
            id="j",
            name="J",
            cron="*/5 * * * * 30",
            target="t",
            prompt="p",
            created_at=T0,
            payload=[1, {"x": None}],
            last_fired_at=T0,
            catch_up="all",
            heartbeat_file="HEARTBEAT.md",
        )
        assert Job.from_json(json.loads(json.dumps(job.to_json()))) == job

    def test_validate_cron_accepts_leap_day(self) -> None:
        """Feb 29 is valid because it fires in leap years."""
        validate_cron("0 0 29 2 *")


class TestLoad:
    @pytest.mark.parametrize(
        ("content", "reason"),
        [
            ("", "file is empty"),
            ("{not json", "not valid JSON"),
            ("[1, 2]", "expected a JSON object"),
            (json.dumps({k: v for k, v in _valid_json().items() if k != "cron"}), "'cron'"),
            (json.dumps(_valid_json(enabled="yes")), "'enabled'"),
            (json.dumps(_valid_json(cron="0 0 31 2 *")), "day 31 never occurs in February"),
            (json.dumps(_valid_json(cron="bogus")), "invalid cron"),
            (json.dumps(_valid_json(extra=1)), "unknown field"),
            (json.dumps(_valid_json(id="other")), "'other'"),
            (json.dumps(_valid_json(created_at="2030-01-01T00:00:00")), "no timezone"),
            (json.dumps(_valid_json(catch_up="twice")), "catch_up"),
        ],
    )
    def test_malformed_file_is_reported_and_skipped(
        self, store: JobStore, caplog: pytest.LogCaptureFixture, content: str, reason: str
    ) -> None:
        """A malformed job file is skipped, logged and reported; good jobs still load."""
        good = store.add("good", "* * * * *", "t")
        bad = _write_job_file(store, "ok.json", content)
        with caplog.at_level(logging.ERROR, logger="actors.cron"):
            assert store.list() == [good]
        [(path, why)] = store.load_problems()
        assert path == bad
        assert reason in why
        assert str(bad) in caplog.text
        with pytest.raises(MalformedJob, match=reason.replace("[", r"\[")):
            store.get("ok")

    def test_problems_are_logged_once(
        self, store: JobStore, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Listing twice logs a given problem only once."""
        _write_job_file(store, "bad.json", "")
        with caplog.at_level(logging.ERROR, logger="actors.cron"):
            store.list()
            store.list()
        assert len(caplog.records) == 1

    def test_non_json_and_temp_files_are_ignored(self, store: JobStore) -> None:
        """Files that are not *.json, or are hidden temp files, are not jobs or problems."""
        _write_job_file(store, "notes.txt", "hello")
        _write_job_file(store, ".ok.json.1234.tmp", "{")
        _write_job_file(store, ".ok.lock", "")
        assert store.list() == []
        assert store.load_problems() == []


class TestConcurrency:
    def test_lock_of_a_dead_process_is_broken(self, store: JobStore) -> None:
        """A lock file left by a killed process does not block updates of that job."""
        store.add("a", "* * * * *", "t")
        dead = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        (store.jobs_dir / ".a.lock").write_text(dead)
        assert not store.disable("a").enabled
        assert not (store.jobs_dir / ".a.lock").exists()

    def test_live_lock_times_out_with_a_clear_error(
        self, store: JobStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An update waits for a live lock and gives up naming the lock file."""
        import actors.cron._store as cronstore

        monkeypatch.setattr(cronstore, "_LOCK_TIMEOUT", 0.05)
        store.add("a", "* * * * *", "t")
        (store.jobs_dir / ".a.lock").write_text(str(os.getppid()))
        with pytest.raises(TimeoutError, match=r"\.a\.lock"):
            store.disable("a")

    def test_fire_without_waiting_refuses_a_held_lock(self, store: JobStore) -> None:
        """fire(wait=False) raises BlockingIOError at once and writes nothing."""
        store.add("a", "* * * * *", "t")
        (store.jobs_dir / ".a.lock").write_text(str(os.getppid()))  # a live other process
        with pytest.raises(BlockingIOError, match="job 'a' is locked by another process"):
            store.fire("a", T0, wait=False)
        assert list_pending(store.triggers_dir) == []
        assert store.get("a").last_fired_at is None
        (store.jobs_dir / ".a.lock").unlink()
        assert store.fire("a", T0, wait=False) is not None

    @pytest.mark.slow
    def test_threads_never_share_an_id(self, store: JobStore) -> None:
        """Eight threads adding the same name at once all get distinct ids."""
        ids: list[str] = []
        barrier = threading.Barrier(8)

        def worker() -> None:
            barrier.wait()
            ids.extend(store.add("Same", "* * * * *", "t").id for _ in range(10))

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(ids) == len(set(ids)) == 80
        assert len(store.list()) == 80
        assert store.load_problems() == []

    @pytest.mark.slow
    @pytest.mark.soak
    def test_two_processes_never_share_an_id(self, store: JobStore) -> None:
        """Two processes adding and updating the same name concurrently get distinct ids."""
        code = (
            "import sys; from actors.cron._store import JobStore\n"
            "s = JobStore(sys.argv[1])\n"
            "for _ in range(40):\n"
            "    j = s.add('Same', '* * * * *', 't'); s.disable(j.id); print(j.id)\n"
        )
        env = os.environ | {"PYTHONPATH": str(ROOT)}
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(store.path)],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            for _ in range(2)
        ]
        ids = [line for p in procs for line in p.communicate(timeout=60)[0].split()]
        assert all(p.returncode == 0 for p in procs)
        assert len(ids) == len(set(ids)) == 80
        assert {j.id for j in store.list()} == set(ids)
        assert not any(j.enabled for j in store.list())


class TestFire:
    def test_fire_writes_trigger_then_records_slot(self, store: JobStore) -> None:
        """fire writes a trigger with the job's fields and sets last_fired_at to the slot."""
        job = store.add("a", "* * * * *", "inbox", prompt="hello", payload={"n": 1})
        path = store.fire(job.id, T0, now=T0 + dt.timedelta(seconds=2))
        assert path is not None
        trigger = parse_trigger(path)
        assert trigger == Trigger(
            target="inbox",
            prompt="hello",
            payload={"n": 1},
            job_id="a",
            job_name="a",
            fired_at=T0 + dt.timedelta(seconds=2),
            scheduled_for=T0,
        )
        assert store.get("a").last_fired_at == T0
        assert store.get("a").enabled

    def test_slot_fires_once(self, store: JobStore) -> None:
        """Firing the same or an earlier slot again is a no-op."""
        store.add("a", "* * * * *", "t")
        assert store.fire("a", T0) is not None
        assert store.fire("a", T0) is None
        assert store.fire("a", T0 - dt.timedelta(minutes=1)) is None
        assert store.fire("a", T0 + dt.timedelta(minutes=1)) is not None
        assert len(list_pending(store.triggers_dir)) == 2

    def test_disabled_job_does_not_fire(self, store: JobStore) -> None:
        """fire skips a disabled job."""
        store.add("a", "* * * * *", "t", enabled=False)
        assert store.fire("a", T0) is None

    def test_oneshot_is_disabled_at_fire_and_deleted_after_delivery(self, store: JobStore) -> None:
        """A oneshot job fires once, stays (disabled) until settled, then is deleted."""
        store.add("once", "* * * * *", "t", oneshot=True)
        path = store.fire("once", T0)
        assert path is not None
        assert store.fire("once", T0 + dt.timedelta(minutes=1)) is None
        assert not store.get("once").enabled
        with pytest.raises(ValueError, match=r"^oneshot job 'once' already fired"):
            store.enable("once")
        store.settle(parse_trigger(path))
        with pytest.raises(JobNotFound):
            store.get("once")

    def test_settle_keeps_recurring_and_recreated_jobs(self, store: JobStore) -> None:
        """settle deletes nothing for a recurring job or a new job that reuses the id."""
        store.add("r", "* * * * *", "t")
        path = store.fire("r", T0)
        assert path is not None
        store.settle(parse_trigger(path))
        assert store.get("r")
        store.add("o", "* * * * *", "t", oneshot=True)
        stale = Trigger(target="t", prompt="p", job_id="o", scheduled_for=T0)
        store.settle(stale)
        assert store.get("o").enabled
        store.settle(Trigger(target="t", prompt="p", job_id="../etc"))

    def test_heartbeat_skips_blank_file_and_appends_text(self, store: JobStore) -> None:
        """A heartbeat job skips when its file is missing or blank, else appends the text."""
        store.add("hb", "* * * * *", "t", prompt="check", heartbeat_file="HEARTBEAT.md")
        assert store.fire("hb", T0) is None
        (store.path / "HEARTBEAT.md").write_text("  \n")
        assert store.fire("hb", T0) is None
        assert store.get("hb").last_fired_at is None
        (store.path / "HEARTBEAT.md").write_text("- water plants\n")
        path = store.fire("hb", T0)
        assert path is not None
        assert parse_trigger(path).prompt == "check\n\n---\n\n- water plants"


class TestRecover:
    def test_rolls_forward_a_fire_whose_job_update_was_lost(self, store: JobStore) -> None:
        """A trigger written before a crash marks the job fired, so it never fires twice."""
        store.add("once", "* * * * *", "t", oneshot=True)
        store.add("rec", "* * * * *", "t")
        for job_id in ("once", "rec"):  # the crash: trigger written, job not updated
            write_trigger(
                store.triggers_dir,
                Trigger(target="t", prompt="p", job_id=job_id, scheduled_for=T0),
            )
        report = store.recover()
        assert sorted(report.rolled_forward) == ["once", "rec"]
        assert not store.get("once").enabled
        assert store.get("rec").last_fired_at == T0
        assert store.fire("once", T0 + dt.timedelta(hours=1)) is None
        assert store.fire("rec", T0) is None

    def test_deletes_delivered_oneshot_left_behind(self, store: JobStore) -> None:
        """A fired oneshot job with no pending trigger was delivered; recover deletes it."""
        store.add("once", "* * * * *", "t", oneshot=True)
        path = store.fire("once", T0)
        assert path is not None
        assert store.recover().removed_oneshots == ()  # still pending: kept
        path.unlink()  # delivered and unlinked, then crashed before settle
        assert store.recover().removed_oneshots == ("once",)
        assert store.list() == []

    def test_external_trigger_naming_a_job_changes_nothing(self, store: JobStore) -> None:
        """A trigger without scheduled_for neither marks nor settles the job it names."""
        store.add("once", "* * * * *", "t", oneshot=True)
        external = Trigger(target="t", prompt="p", job_id="once")
        write_trigger(store.triggers_dir, external)
        assert store.recover().rolled_forward == ()
        store.settle(external)
        assert store.get("once").enabled

    def test_removes_old_temp_and_lock_files_only(self, store: JobStore) -> None:
        """recover removes stale temp and lock files and keeps fresh ones."""
        old = [store.jobs_dir / ".a.json.1.tmp", store.triggers_dir / ".x.json.2.tmp"]
        old.append(store.jobs_dir / ".a.lock")
        fresh = store.jobs_dir / ".b.json.3.tmp"
        for path in [*old, fresh]:
            path.write_text("{")
        for path in old:
            os.utime(path, (time.time() - 120, time.time() - 120))
        assert sorted(store.recover().removed_files) == sorted(old)
        assert fresh.exists()


@pytest.mark.slow
class TestCrashSafety:
    @pytest.mark.soak
    def test_sigkill_never_leaves_a_torn_file(self, tmp_path: Path) -> None:
        """Ten SIGKILLs at random moments leave every job and trigger file parseable."""
        data = tmp_path / "data"
        rng = random.Random(1234)
        env = os.environ | {"PYTHONPATH": str(ROOT)}
        for _ in range(10):
            proc = subprocess.Popen(
                [sys.executable, str(CRASHER), str(data)], stdout=subprocess.PIPE, env=env
            )
            assert proc.stdout is not None
            assert proc.stdout.readline() == b"ready\n"
            time.sleep(rng.uniform(0.0, 0.15))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
        store = JobStore(data)
        assert store.load_problems() == []  # temp files are ignored, never half-read
        for path in list_pending(store.triggers_dir):
            parse_trigger(path)
        store.recover(older_than=0)
        leftovers = [
            p for d in (store.jobs_dir, store.triggers_dir) for p in d.iterdir() if p.name[0] == "."
        ]
        assert leftovers == []
        assert len(store.list()) > 0
        assert store.add("after", "* * * * *", "t").id == "after"


class TestUpdateAndPaths:
    def test_update_changes_allowed_fields_only(self, store: JobStore) -> None:
        """update validates new values and refuses fields that are not editable."""
        store.add("a", "* * * * *", "t", prompt="old")
        assert store.update("a", prompt="new", cron="0 9 * * *").prompt == "new"
        assert store.get("a").cron == "0 9 * * *"
        with pytest.raises(ValueError, match=r"cannot update field\(s\) \['id'\]"):
            store.update("a", id="b")
        with pytest.raises(ValueError, match="invalid cron expression 'nope'"):
            store.update("a", cron="nope")
        assert store.get("a").cron == "0 9 * * *"

    @pytest.mark.parametrize("bad", ["../outside.md", "/etc/passwd", "a/../../b"])
    def test_heartbeat_file_must_stay_inside_the_folder(self, store: JobStore, bad: str) -> None:
        """A heartbeat path that is absolute or climbs out with '..' is refused."""
        with pytest.raises(ValueError, match="field 'heartbeat_file'"):
            store.add("hb", "* * * * *", "t", heartbeat_file=bad)

    def test_list_is_sorted_by_id(self, store: JobStore) -> None:
        """list orders jobs by id ('a' before 'a-2'), not by file name."""
        ids = [store.add("a", "* * * * *", "t").id for _ in range(2)]
        assert [j.id for j in store.list()] == sorted(ids) == ["a", "a-2"]
