"""Tests for trigger files, drain and watcher (actors/cron/_triggerfiles.py)."""

from __future__ import annotations

import datetime as dt
import json
from functools import partial
from pathlib import Path

import pytest
import trio
import trio.testing

from actors.cron import MalformedTrigger, RetryPolicy, write_trigger
from actors.cron import TriggerFile as Trigger
from actors.cron._triggerdrain import DeliveryLedger, Wakeup, drain, watch_triggers
from actors.cron._triggerfiles import complete, job_id_of, list_pending, parse_trigger, quarantine

T0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(name="tdir")
def fixture_tdir(tmp_path: Path) -> Path:
    path = tmp_path / "triggers"
    path.mkdir()
    return path


def _drop(tdir: Path, name: str, content: object) -> Path:
    path = tdir / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def _trigger(n: int, **changes: object) -> Trigger:
    fields: dict[str, object] = {
        "target": "inbox",
        "prompt": f"p{n}",
        "job_id": "job",
        "fired_at": T0 + dt.timedelta(microseconds=n),
    }
    return Trigger(**(fields | changes))  # type: ignore[arg-type]


class Recorder:
    """A delivery callback that records prompts and fails the first ``fail`` calls."""

    def __init__(self, fail: int = 0) -> None:
        self.delivered: list[str | None] = []
        self.calls: list[tuple[float, int]] = []
        self.fail = fail

    async def __call__(self, trigger: Trigger) -> None:
        self.calls.append((trio.current_time(), trigger.attempt))
        await trio.lowlevel.checkpoint()
        if self.fail > 0:
            self.fail -= 1
            raise ConnectionError("target down")
        self.delivered.append(trigger.prompt)


class TestFormat:
    def test_write_and_parse_round_trip(self, tdir: Path) -> None:
        """A trigger written is parsed back equal, under a name encoding its job id."""
        trigger = Trigger(
            target="inbox",
            prompt="hi",
            payload={"k": [1, 2]},
            job_id="remind-me",
            fired_at=T0,
            scheduled_for=T0 - dt.timedelta(minutes=5),
            attempt=2,
        )
        path = write_trigger(tdir, trigger)
        assert path.name == "20300101T120000.000000Z-000000-remind-me.json"
        assert parse_trigger(path) == trigger
        assert job_id_of(path) == "remind-me"

    def test_names_sort_in_fire_order_and_never_clash(self, tdir: Path) -> None:
        """Lexical order of names is fire order; equal timestamps get increasing seq."""
        paths = [write_trigger(tdir, _trigger(n)) for n in (3, 1, 2)]
        paths += [write_trigger(tdir, _trigger(2)) for _ in range(2)]
        assert [parse_trigger(p).prompt for p in list_pending(tdir)] == [
            "p1",
            "p2",
            "p2",
            "p2",
            "p3",
        ]
        assert len(set(paths)) == 5
        assert [p.name.split("-")[1] for p in sorted(paths)[1:4]] == ["000000", "000001", "000002"]

    def test_fired_at_defaults_to_now(self, tdir: Path) -> None:
        """write_trigger fills in fired_at with the current UTC time."""
        before = dt.datetime.now(dt.UTC)
        path = write_trigger(tdir, Trigger(target="t", prompt="p"))
        fired_at = parse_trigger(path).fired_at
        assert fired_at is not None
        assert fired_at >= before
        assert path.name.endswith("-external.json")
        assert job_id_of(path) is None

    @pytest.mark.parametrize(
        "content",
        [{"target": "t", "prompt": "wake up"}, {"target": "t", "payload": {"x": 1}}],
    )
    def test_minimal_external_file_parses(self, tdir: Path, content: object) -> None:
        """An external file needs only target plus prompt or payload; unknown keys are ignored."""
        path = _drop(tdir, "manual.json", content | {"jobName": "x"})  # type: ignore[operator]
        trigger = parse_trigger(path)
        assert trigger.target == "t"
        assert trigger.attempt == 1
        assert trigger.job_id is None

    @pytest.mark.parametrize(
        ("content", "reason"),
        [
            ("", "file is empty"),
            ("  \n", "file is empty"),
            ("{oops", "not valid JSON"),
            ("[]", "expected a JSON object"),
            ({"prompt": "p"}, "field 'target' must be a non-empty string, got None"),
            ({"target": "", "prompt": "p"}, "field 'target'"),
            ({"target": "t"}, "needs field 'prompt' or 'payload'"),
            ({"target": "t", "prompt": 3}, "field 'prompt' must be a string, got 3"),
            ({"target": "t", "prompt": "p", "attempt": 0}, "field 'attempt'"),
            ({"target": "t", "prompt": "p", "attempt": True}, "field 'attempt'"),
            ({"target": "t", "prompt": "p", "job_id": 7}, "field 'job_id'"),
            ({"target": "t", "prompt": "p", "fired_at": "yesterday"}, "field 'fired_at'"),
            ({"target": "t", "prompt": "p", "fired_at": "2030-01-01T00:00:00"}, "no timezone"),
        ],
    )
    def test_malformed_file_raises_with_reason(
        self, tdir: Path, content: object, reason: str
    ) -> None:
        """parse_trigger raises MalformedTrigger naming the file and what is wrong."""
        path = _drop(tdir, "bad.json", content)
        with pytest.raises(MalformedTrigger) as info:
            parse_trigger(path)
        assert reason in info.value.reason
        assert str(path) in str(info.value)

    def test_pid_targets_must_parse(self, tdir: Path) -> None:
        """A target that looks like a PID but is not one is malformed; a real one parses."""
        with pytest.raises(MalformedTrigger, match="not a valid PID"):
            parse_trigger(_drop(tdir, "a.json", {"target": "{main|zz", "prompt": "p"}))
        ok = parse_trigger(_drop(tdir, "b.json", {"target": "{main|0x00003}", "prompt": "p"}))
        assert ok.target == "{main|0x00003}"
        assert ok.source == "b.json"

    def test_job_name_round_trips(self, tdir: Path) -> None:
        """job_name is written and read back; source is not stored."""
        path = write_trigger(tdir, _trigger(1, job_name="Remind Me"))
        assert parse_trigger(path).job_name == "Remind Me"
        assert "source" not in json.loads(path.read_text())

    def test_list_pending_skips_temp_hidden_and_quarantine(self, tdir: Path) -> None:
        """Only visible *.json files directly in the folder are pending."""
        (tdir / "quarantine").mkdir()
        _drop(tdir / "quarantine", "q.json", {})
        for name in (".a.json.1234.tmp", ".hidden.json", "notes.txt", "b.json", "a.json"):
            _drop(tdir, name, {})
        assert [p.name for p in list_pending(tdir)] == ["a.json", "b.json"]


class TestQuarantine:
    def test_moves_file_with_reason_sidecar(self, tdir: Path) -> None:
        """quarantine moves the file and writes <name>.reason.txt beside it."""
        path = _drop(tdir, "bad.json", "{")
        dest = quarantine(path, "not valid JSON")
        assert dest == tdir / "quarantine" / "bad.json"
        assert not path.exists()
        assert dest.read_text() == "{"
        assert (tdir / "quarantine" / "bad.json.reason.txt").read_text() == "not valid JSON\n"

    def test_never_overwrites_a_quarantined_file(self, tdir: Path) -> None:
        """A second file with the same name is quarantined under a new name."""
        quarantine(_drop(tdir, "bad.json", "first"), "r1")
        dest = quarantine(_drop(tdir, "bad.json", "second"), "r2")
        assert dest == tdir / "quarantine" / "bad.1.json"
        assert (tdir / "quarantine" / "bad.json").read_text() == "first"
        assert (tdir / "quarantine" / "bad.1.json.reason.txt").read_text() == "r2\n"

    def test_vanished_file_is_a_no_op(self, tdir: Path) -> None:
        """Quarantining a file that is already gone returns None and leaves no sidecar."""
        assert quarantine(tdir / "gone.json", "r") is None
        assert list((tdir / "quarantine").iterdir()) == []

    def test_complete_removes_and_tolerates_missing(self, tdir: Path) -> None:
        """complete deletes the file, and a second call is harmless."""
        path = _drop(tdir, "a.json", {})
        complete(path)
        complete(path)
        assert not path.exists()


class TestDrain:
    @pytest.mark.slow
    async def test_large_backlog_is_delivered_in_order(self, tdir: Path) -> None:
        """A 1,000-file backlog is delivered once each, in fire order, and removed."""
        for n in reversed(range(1000)):
            write_trigger(tdir, _trigger(n))
        deliver = Recorder()
        assert await drain(tdir, deliver) == 1000
        assert deliver.delivered == [f"p{n}" for n in range(1000)]
        assert list_pending(tdir) == []

    async def test_failure_keeps_the_file_and_bumps_attempt(
        self, tdir: Path, autojump_clock: trio.testing.MockClock
    ) -> None:
        """A failed delivery keeps the file with attempt + 1 and sets a retry time."""
        path = write_trigger(tdir, _trigger(1))
        ledger = DeliveryLedger()
        assert await drain(tdir, Recorder(fail=1), ledger=ledger) == 0
        assert parse_trigger(path).attempt == 2
        assert ledger.failures == {path.name: 1}
        assert ledger.retry_at[path.name] == pytest.approx(trio.current_time() + 0.5)

    async def test_backoff_holds_the_target_but_not_others(
        self, tdir: Path, autojump_clock: trio.testing.MockClock
    ) -> None:
        """While a file waits for its retry, later files of its target wait; others go on."""
        write_trigger(tdir, _trigger(1, target="down"))
        write_trigger(tdir, _trigger(2, target="down"))
        write_trigger(tdir, _trigger(3, target="up"))
        seen: list[str | None] = []

        async def deliver(trigger: Trigger) -> None:
            if trigger.target == "down" and trio.current_time() < 1:
                raise ConnectionError("down")
            seen.append(trigger.prompt)

        ledger = DeliveryLedger()
        assert await drain(tdir, deliver, ledger=ledger) == 1
        assert seen == ["p3"]
        assert await drain(tdir, deliver, ledger=ledger) == 0  # p1 is backing off
        await trio.sleep(1)
        assert await drain(tdir, deliver, ledger=ledger) == 2
        assert seen == ["p3", "p1", "p2"]
        assert ledger.failures == ledger.retry_at == {}

    async def test_watcher_retries_with_exponential_backoff(
        self, tdir: Path, autojump_clock: trio.testing.MockClock
    ) -> None:
        """The watcher retries a failing file after 0.5, 1 and 2 s, then delivers it."""
        write_trigger(tdir, _trigger(1))
        deliver = Recorder(fail=3)
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(watch_triggers, tdir, deliver, poll_interval=10))
            await trio.sleep(5)
            nursery.cancel_scope.cancel()
        assert [(round(t - start, 6), a) for t, a in deliver.calls] == [
            (0, 1),
            (0.5, 2),
            (1.5, 3),
            (3.5, 4),
        ]
        assert deliver.delivered == ["p1"]
        assert list_pending(tdir) == []

    async def test_malformed_files_are_quarantined_and_the_rest_delivered(self, tdir: Path) -> None:
        """A malformed file goes to quarantine; the files around it are delivered."""
        write_trigger(tdir, _trigger(1))
        _drop(tdir, "20300101T120000.000001-000000-broken.json", "{")
        write_trigger(tdir, _trigger(2))
        deliver = Recorder()
        assert await drain(tdir, deliver, malformed_grace=0) == 2
        assert deliver.delivered == ["p1", "p2"]
        reason = tdir / "quarantine" / "20300101T120000.000001-000000-broken.json.reason.txt"
        assert "not valid JSON" in reason.read_text()

    async def test_young_malformed_file_waits_for_its_writer(self, tdir: Path) -> None:
        """A malformed file younger than the grace period is left for a later pass."""
        path = _drop(tdir, "partial.json", '{"target": "t", "pro')
        assert await drain(tdir, Recorder(), malformed_grace=3600) == 0
        assert path.exists()
        assert not (tdir / "quarantine").exists()

    async def test_overlapping_drains_deliver_each_file_once(self, tdir: Path) -> None:
        """Two drains sharing a ledger deliver every file exactly once."""
        for n in range(20):
            write_trigger(tdir, _trigger(n))
        deliver = Recorder()
        ledger = DeliveryLedger()
        async with trio.open_nursery() as nursery:
            for _ in range(2):
                nursery.start_soon(lambda: drain(tdir, deliver, ledger=ledger))
        assert sorted(p or "" for p in deliver.delivered) == sorted(f"p{n}" for n in range(20))
        assert ledger.in_flight == set()

    async def test_undeletable_file_is_not_redelivered(
        self, tdir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A delivered file that cannot be removed is remembered and not delivered again."""
        import actors.cron._triggerdrain as triggerdrain

        def broken_complete(path: Path) -> None:
            raise PermissionError(f"read-only: {path}")

        write_trigger(tdir, _trigger(1))
        monkeypatch.setattr(triggerdrain, "complete", broken_complete)
        deliver, ledger = Recorder(), DeliveryLedger()
        assert await drain(tdir, deliver, ledger=ledger) == 1
        assert await drain(tdir, deliver, ledger=ledger) == 0
        assert deliver.delivered == ["p1"]
        monkeypatch.undo()
        complete(list_pending(tdir)[0])
        await drain(tdir, deliver, ledger=ledger)
        assert ledger.done == set()

    async def test_cancel_mid_drain_leaves_undelivered_files(
        self, tdir: Path, autojump_clock: trio.testing.MockClock
    ) -> None:
        """Cancelling a drain keeps every file not yet delivered, including the one in flight."""
        for n in range(20):
            write_trigger(tdir, _trigger(n))
        delivered: list[str | None] = []

        async def slow(trigger: Trigger) -> None:
            await trio.sleep(1)
            delivered.append(trigger.prompt)

        with trio.move_on_after(5.5):
            await drain(tdir, slow)
        assert len(delivered) == 5
        remaining = [parse_trigger(p).prompt for p in list_pending(tdir)]
        assert remaining == [f"p{n}" for n in range(5, 20)]

    async def test_on_delivered_runs_after_removal(self, tdir: Path) -> None:
        """on_delivered sees the trigger after its file is gone."""
        path = write_trigger(tdir, _trigger(1))
        seen: list[bool] = []
        await drain(tdir, Recorder(), on_delivered=lambda t: seen.append(path.exists()))
        assert seen == [False]

    def test_retry_policy_validates_and_caps(self) -> None:
        """RetryPolicy rejects nonsense, caps the delay and never overflows."""
        with pytest.raises(ValueError, match=r"^retry needs 0 < initial_delay"):
            RetryPolicy(initial_delay=0)
        with pytest.raises(ValueError, match=r"factor=0.5"):
            RetryPolicy(factor=0.5)
        assert RetryPolicy(initial_delay=1, max_delay=10).delay(20) == 10
        assert RetryPolicy().delay(10_000) == 10


class TestWatch:
    async def test_file_dropped_during_drain_is_delivered(
        self, tdir: Path, autojump_clock: trio.testing.MockClock
    ) -> None:
        """A file written while the startup drain is busy is delivered by the next poll."""
        write_trigger(tdir, _trigger(1))
        delivered: list[str | None] = []

        async def deliver(trigger: Trigger) -> None:
            if trigger.prompt == "p1":  # drop a new file mid-delivery
                write_trigger(tdir, _trigger(2))
                await trio.sleep(1)
            delivered.append(trigger.prompt)

        async with trio.open_nursery() as nursery:
            await nursery.start(partial(watch_triggers, tdir, deliver, poll_interval=0.1))
            await trio.sleep(2)
            assert delivered == ["p1", "p2"]
            write_trigger(tdir, _trigger(3))
            await trio.sleep(0.2)
            assert delivered == ["p1", "p2", "p3"]
            nursery.cancel_scope.cancel()
        assert list_pending(tdir) == []

    async def test_wakeup_starts_a_pass_at_once(
        self, tdir: Path, autojump_clock: trio.testing.MockClock
    ) -> None:
        """Setting the wakeup runs a pass now instead of after the poll interval."""
        wakeup = Wakeup()
        deliver = Recorder()
        async with trio.open_nursery() as nursery:
            await nursery.start(
                partial(watch_triggers, tdir, deliver, poll_interval=60, wakeup=wakeup)
            )
            await trio.sleep(1)
            write_trigger(tdir, _trigger(1))
            wakeup.set()
            await trio.sleep(0.001)
            assert deliver.delivered == ["p1"]
            nursery.cancel_scope.cancel()

    async def test_poll_interval_must_be_positive(self, tdir: Path) -> None:
        """watch_triggers refuses a poll interval of zero."""
        with pytest.raises(ValueError, match=r"^poll_interval must be > 0, got 0$"):
            await watch_triggers(tdir, Recorder(), poll_interval=0)
