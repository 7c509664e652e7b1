"""The benchmark suite: pure report/plan logic, and a smoke run of every system's worker."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time

import pytest

from bench import _busy, _common, _idle_penalty, _plan, _report, _runner
from bench._plan import Job
from bench.systems import PYTHON_SYSTEMS

RECORD_KEYS = {"system", "workload", "n", "metric", "value", "unit"}


def rec(system: str, workload: str, n: int, metric: str, value: object) -> _report.Record:
    return {"system": system, "workload": workload, "n": n, "metric": metric, "value": value,
            "unit": _common.UNITS.get(metric, "")}  # fmt: skip


def sample_records(actors_cpu: float = 10.0) -> list[_report.Record]:
    return [
        rec("trio", "ticking", 10_000, "cpu_per_tick_us", 40.0),
        rec("actors", "ticking", 10_000, "cpu_per_tick_us", actors_cpu),
        rec("trio", "ticking", 10_000, "rate_ratio", 1.0),
        rec("actors", "ticking", 10_000, "rate_ratio", 0.97),
        rec("trio", "spawn", 10_000, "time_to_parked_s", 0.1),
        rec("actors", "spawn", 10_000, "time_to_parked_s", 0.2),
        rec("trio", "idle_memory", 10_000, "rss_per_actor_bytes", 1900.0),
        rec("actors", "idle_memory", 10_000, "rss_per_actor_bytes", 2100.0),
        rec("trio", "pingpong", 20_000, "round_trips_per_s", 80_000.0),
        rec("pykka", "pingpong", 20_000, "round_trips_per_s", 16_000.0),
        rec("thespian", "ticking", 10_000, "status", "stopped: livelock: no result after 27s"),
    ]


def test_ideal_rate_and_percentile() -> None:
    assert _common.ideal_rate(10_000, 0.5, 3.0) == pytest.approx(10_000 * math.log(6) / 2.5)
    assert _common.percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.0
    assert _common.percentile([3.0, 1.0, 2.0, 4.0], 99) == 4.0
    assert math.isnan(_common.percentile([], 50))


def test_records_for_ok_and_status() -> None:
    ok = _report.records_for("trio", "fanin", 200, "ok", {"messages_per_s": 5.0}, "")
    assert ok == [rec("trio", "fanin", 200, "messages_per_s", 5.0)]
    (stopped,) = _report.records_for("pykka", "ticking", 50_000, "stopped", {}, "timeout: x")
    assert set(stopped) == RECORD_KEYS
    assert stopped["metric"] == "status"
    assert stopped["value"] == "stopped: timeout: x"
    (na,) = _report.records_for("actors", "spawn", 10, "unavailable", {}, "pending")
    assert na["value"] == "not available: pending"


def test_ratio_against_trio() -> None:
    records = sample_records()
    assert _report.ratio(records, "actors", "ticking", 10_000, "cpu_per_tick_us") == 0.25
    assert _report.ratio(records, "pykka", "pingpong", 20_000, "round_trips_per_s") == 0.2
    assert _report.ratio(records, "actors", "pingpong", 20_000, "round_trips_per_s") is None


def test_bars_pass_fail_and_missing() -> None:
    results = {r.bar.name: r for r in _report.evaluate_bars(sample_records(), "actors")}
    cpu = results["ticking 10k: CPU per tick <= 0.5x naive trio"]
    assert cpu.passed is True
    assert cpu.measured == pytest.approx(0.25)
    assert results["ticking 10k: tick rate >= 95% of ideal"].passed is True
    assert results["spawn 10k: time to parked <= 1.5x trio start_soon"].passed is False
    memory = results["idle memory 100k: <= 2.5 KB per actor (RSS)"]
    assert memory.passed is True
    assert "bar is at n=100,000" in memory.note  # fell back to the size that was measured
    assert results["ping-pong: >= 1.3x trio round trips/s"].passed is None
    failing = _report.evaluate_bars(sample_records(actors_cpu=30.0), "actors")[0]
    assert failing.passed is False
    text = _report.render_bars(list(results.values()))
    assert "PASS" in text
    assert "FAIL" in text
    assert "N/A" in text


def test_table_shows_ratios_and_stops() -> None:
    table = _report.render_table(sample_records())
    assert "(0.25x)" in table
    assert "STOP livelock" in table
    assert "thespian ticking n=10,000: stopped: livelock" in table
    assert _report.status_cell("skipped: time budget 50s") == "skip"


def test_quick_plan_caps_and_skips_tracemalloc_for_erlang() -> None:
    plan = _plan.build_plan(quick=True)
    assert plan.budget_s < 60
    capped = [j for j in plan.jobs if j.system == "pykka" and j.workload == "ticking"]
    assert {j.n: bool(j.skip) for j in capped} == {1_000: False, 10_000: True}
    assert not [j for j in plan.jobs if j.system == "erlang" and "tracemalloc" in j.label()]
    only = _plan.build_plan(quick=False, workloads=["scale"], systems=["trio"])
    assert {j.workload for j in only.jobs} == {"idle_memory", "ticking"}
    assert sorted({j.n for j in only.jobs if j.workload == "ticking"}) == list(_plan.SCALE_N)
    with pytest.raises(ValueError, match="unknown workload"):
        _plan.build_plan(quick=True, workloads=["nope"])


def test_execute_stops_larger_sizes_after_a_stop() -> None:
    jobs = tuple(Job("pykka", "ticking", n) for n in (1_000, 10_000, 50_000))
    plan = _plan.Plan(quick=True, jobs=jobs, budget_s=100, grace_s=1, settings={})

    def fake(job: Job, timeout: float | None) -> _runner.Outcome:
        if job.n >= 10_000:
            return _runner.Outcome(job, "stopped", reason="timeout: no result after 9s")
        return _runner.Outcome(job, "ok", metrics={"rate_ratio": 1.0})

    outcomes = _runner.execute(plan, runner=fake, log=lambda _s: None)
    assert [o.status for o in outcomes] == ["ok", "stopped", "skipped"]
    assert outcomes[2].reason == "stopped at n=10000"


def test_full_plan_alternates_repeated_tick_runs_at_the_bar_size() -> None:
    plan = _plan.build_plan(quick=False, workloads=["ticking"])
    at_bar = [(j.system, j.repeat) for j in plan.jobs if j.n == 10_000]
    repeats = [(s, r) for s, r in at_bar if r]
    assert repeats == [(s, r) for r in range(1, _plan.TICK_REPEATS) for s in ("actors", "trio")]
    assert _plan.TICK_REPEATS >= 3
    assert all(j.repeat == 0 for j in plan.jobs if j.n != 10_000)
    quick = _plan.build_plan(quick=True, workloads=["ticking"])
    assert all(j.repeat == 0 for j in quick.jobs)
    only_actors = _plan.build_plan(quick=False, workloads=["ticking"], systems=["actors"])
    assert all(j.repeat == 0 for j in only_actors.jobs)  # nothing to alternate with


@pytest.mark.parametrize(
    ("workload", "n", "runs"),
    [("spawn", 10_000, _plan.SPAWN_REPEATS), ("pingpong", 100_000, _plan.PINGPONG_REPEATS)],
)
def test_full_plan_repeats_the_spawn_and_pingpong_bars(workload: str, n: int, runs: int) -> None:
    """The short bar runs are alternated and repeated too (median of the runs)."""
    plan = _plan.build_plan(quick=False, workloads=[workload])
    repeats = [(j.system, j.repeat) for j in plan.jobs if j.repeat]
    assert repeats == [(s, r) for r in range(1, runs) for s in ("actors", "trio")]
    assert all(j.n == n for j in plan.jobs if j.repeat)
    assert runs >= 3
    assert plan.settings[f"{workload}_repeats" + ("_10k" if workload == "spawn" else "")] == runs


def test_warm_ticking_runs_at_the_bar_size_for_python_systems_only() -> None:
    full = _plan.build_plan(quick=False, workloads=["ticking_warm"])
    jobs = [(j.system, j.n, j.repeat) for j in full.jobs]
    first = [(s, 10_000, 0) for s in _plan.WARM_SYSTEMS]
    again = [(s, 10_000, r) for r in range(1, _plan.WARM_REPEATS) for s in ("actors", "trio")]
    assert jobs == first + again
    assert full.jobs[0].params["warmup"] == _plan.TICK_MAX
    quick = _plan.build_plan(quick=True, workloads=["ticking_warm"])
    assert [(j.system, j.repeat) for j in quick.jobs] == [(s, 0) for s in _plan.WARM_SYSTEMS]


def test_warm_bar_reads_the_warm_records() -> None:
    records = [
        rec("trio", "ticking_warm", 10_000, "cpu_per_tick_us", 35.0),
        rec("actors", "ticking_warm", 10_000, "cpu_per_tick_us", 10.5),
    ]
    (warm,) = [r for r in _report.evaluate_bars(records) if r.bar.workload == "ticking_warm"]
    assert warm.passed is True
    assert warm.measured == pytest.approx(0.3)


@pytest.mark.skipif(not _busy.supported(), reason="needs sched_setaffinity and SCHED_IDLE")
def test_cpu_kept_busy_pins_and_spins_at_idle_priority() -> None:
    allowed = os.sched_getaffinity(0)
    with _busy.cpu_kept_busy() as cpu:
        spinner = _busy._spinner
        assert spinner is not None
        assert spinner.poll() is None
        assert os.sched_getaffinity(0) == os.sched_getaffinity(spinner.pid) == {cpu}
        assert os.sched_getscheduler(spinner.pid) == os.SCHED_IDLE
    assert spinner.poll() is not None
    assert _busy._spinner is None
    assert os.sched_getaffinity(0) == allowed


@pytest.mark.slow
@pytest.mark.skipif(not _busy.supported(), reason="needs sched_setaffinity and SCHED_IDLE")
def test_warm_ticking_worker_reports_and_leaves_no_spinner() -> None:
    job = Job("actors", "ticking_warm", 50, {"seconds": 0.3, "warmup": 0.2, "tick_min": 0.05,
                                              "tick_max": 0.1}, timeout=60)  # fmt: skip
    outcome = _runner.run_job(job)
    assert outcome.status == "ok", outcome
    assert outcome.metrics["cpu_per_tick_us"] > 0
    assert outcome.metrics["rate_ratio"] > 0.5
    # A spinner left behind would stay; one of another test run on this machine (a suite run
    # twice in parallel) ends with its job within a second, so poll rather than look once.
    deadline = time.monotonic() + 15
    while True:
        leftover = subprocess.run(["pgrep", "-f", "sched_setscheduler"], capture_output=True)
        if leftover.stdout == b"" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert leftover.stdout == b""


def test_idle_penalty_times_the_same_work_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_idle_penalty, "SAMPLES", 5)
    assert _idle_penalty.median_us(after_sleep=True) > 0
    assert _idle_penalty.median_us(after_sleep=False) > 0


def test_merge_repeats_takes_medians_of_the_runs_that_finished() -> None:
    def run(system: str, repeat: int, status: str, cpu: float | None) -> _runner.Outcome:
        job = Job(system, "ticking", 10_000, {"seconds": 5.0}, repeat=repeat)
        return _runner.Outcome(job, status, {"cpu_per_tick_us": cpu} if status == "ok" else {})

    merged = _runner.merge_repeats(
        [
            run("actors", 0, "ok", 30.0),
            run("trio", 0, "ok", 40.0),
            run("actors", 1, "ok", 10.0),
            run("trio", 1, "stopped", None),
            run("actors", 2, "ok", 20.0),
            run("trio", 2, "ok", 50.0),
        ]
    )
    assert [(o.job.system, o.metrics) for o in merged] == [
        (
            "actors",
            {
                "cpu_per_tick_us": 20.0,
                "cpu_per_tick_us_min": 10.0,
                "cpu_per_tick_us_max": 30.0,
                "runs": 3.0,
            },
        ),
        (
            "trio",
            {
                "cpu_per_tick_us": 45.0,
                "cpu_per_tick_us_min": 40.0,
                "cpu_per_tick_us_max": 50.0,
                "runs": 2.0,
            },
        ),
    ]
    failed = [_runner.Outcome(Job("pykka", "ticking", 1_000), "stopped", reason="livelock")]
    assert _runner.merge_repeats(failed) == failed


@pytest.mark.slow
def test_worker_prints_one_json_line() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench._worker", "trio", "fanin", "10", "--senders", "3"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    (line,) = out.stdout.splitlines()
    parsed = json.loads(line)
    assert parsed["status"] == "ok"
    assert parsed["metrics"]["messages_per_s"] > 0
    assert {"system", "workload", "n", "status", "metrics", "reason"} <= set(parsed)


@pytest.mark.slow
@pytest.mark.parametrize("system", [*PYTHON_SYSTEMS, "erlang"])
def test_each_system_runs_a_tiny_workload(system: str) -> None:
    """Each system runs a tiny ping-pong in a worker subprocess and reports records."""
    if system in ("pykka", "thespian"):
        pytest.importorskip(system, reason=f"{system} is a benchmark-only extra (.[bench])")
    outcome = _runner.run_job(Job(system, "pingpong", 200, timeout=60))
    if system == "erlang" and outcome.status == "unavailable":
        return
    assert outcome.status == "ok", outcome
    records = _report.records_for(system, "pingpong", 200, "ok", outcome.metrics, "")
    assert {r["metric"] for r in records} == {"round_trips_per_s", "us_per_round_trip"}
    for r in records:
        assert set(r) == RECORD_KEYS
        assert isinstance(r["value"], float)
        assert r["value"] > 0


@pytest.mark.slow
def test_a_hung_job_is_killed_and_recorded_as_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_runner, "PROBE_SPAN", 0.5)
    job = Job("trio", "ticking", 10, {"seconds": 60, "warmup": 0.1}, timeout=1.5)
    outcome = _runner.run_job(job)
    assert outcome.status == "stopped"
    assert outcome.reason.startswith("timeout: no result after 1.5s (in window")
    assert outcome.wall_s < 10
