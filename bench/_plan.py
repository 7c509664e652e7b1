"""Which system runs which workload at which size, with per-job timeouts and a run budget.

Full mode measures every peer at every size of the scale curve until it stops (timeout, error,
livelock); quick mode (under a minute) uses smaller sizes, shorter tick windows, and caps the
thread-per-actor and livelocking peers at sizes they are known to survive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.systems import ALL_SYSTEMS

WORKLOADS = (
    "spawn",
    "pingpong",
    "fanin",
    "call_reply",
    "idle_memory",
    "ticking",
    "ticking_warm",
    "ticker_accuracy",
)
ALIASES = {"scale": ("idle_memory", "ticking"), "memory": ("idle_memory",)}
SCALE_N = (1_000, 10_000, 50_000, 100_000, 200_000)
TICK_MIN, TICK_MAX = 0.5, 3.0
#: Full mode only: the ticking size of the CPU-per-tick bar is measured this many times, actors
#: and trio alternating, and each metric is the median. CPU time per tick on a shared VM drifts
#: by +-25% over tens of seconds (on the README's VM, 8 back-to-back runs of actors gave 11-18 us
#: per tick); alternating runs see the same drift, a single pair may not.
TICK_REPEATS = 5
#: The same size with the worker's CPU kept busy (``_busy.py``); its spread is small, 3 runs do.
WARM_REPEATS = 3
#: The spawn and ping-pong bars compare runs of 0.1-1.5 s, which the VM's drift moves by
#: 10-20% (three back-to-back trio spawns of 10k: 10.5, 12.6, 11.4 us each): median of 5 and 3.
SPAWN_REPEATS = 5
PINGPONG_REPEATS = 3
#: (workload, n) -> (systems alternated, runs).
REPEATED = {
    ("ticking", 10_000): (("actors", "trio"), TICK_REPEATS),
    ("ticking_warm", 10_000): (("actors", "trio"), WARM_REPEATS),
    ("spawn", 10_000): (("actors", "trio"), SPAWN_REPEATS),
    ("pingpong", 100_000): (("actors", "trio"), PINGPONG_REPEATS),
}
#: ``ticking_warm`` is a diagnostic of the CPU-per-tick bar: the bar size, Python systems only.
WARM_N = 10_000
WARM_SYSTEMS = ("actors", "trio", "asyncio")


@dataclass(frozen=True)
class Job:
    system: str
    workload: str
    n: int
    params: dict[str, float | int | str] = field(default_factory=dict)
    timeout: float = 60.0
    skip: str = ""  # non-empty: record as skipped with this reason instead of running
    repeat: int = 0  # which run of a repeated measurement (merged by ``merge_repeats``)

    def label(self) -> str:
        probe = f" ({self.params['probe']})" if "probe" in self.params else ""
        run = f" run {self.repeat + 1}" if self.repeat else ""
        return f"{self.system} {self.workload}{probe} n={self.n}{run}"


@dataclass(frozen=True)
class Plan:
    quick: bool
    jobs: tuple[Job, ...]
    budget_s: float
    grace_s: float
    settings: dict[str, float | int | str]


@dataclass(frozen=True)
class Sizes:
    spawn: tuple[int, ...]
    idle: tuple[int, ...]
    tracemalloc: tuple[int, ...]
    ticking: tuple[int, ...]
    pingpong: int
    fanin_per_sender: int
    senders: int
    call_reply: int
    seconds: float
    warmup: float


FULL = Sizes(
    spawn=(1_000, 10_000, 100_000),
    idle=SCALE_N,
    tracemalloc=(10_000, 100_000),
    ticking=SCALE_N,
    pingpong=100_000,
    fanin_per_sender=1_000,
    senders=100,
    call_reply=20_000,
    seconds=5.0,
    # Every ticker has sent its first tick by TICK_MAX (first offsets are U(0, period)), so the
    # window measures steady ticking, not the start-up of the tickers that begin late.
    warmup=TICK_MAX,
)
QUICK = Sizes(
    spawn=(2_000, 10_000),
    idle=(2_000, 100_000),
    tracemalloc=(2_000,),
    ticking=(1_000, 10_000),
    pingpong=20_000,
    fanin_per_sender=200,
    senders=100,
    call_reply=5_000,
    seconds=2.0,
    warmup=0.5,
)
#: Quick mode only: largest size per (system, workload) for peers known to be slow or to stop
#: (Pykka spawns a thread per actor at ~150-550 us; Thespian's simple base livelocks near 2k
#: ticking actors and its tracemalloc pass is slow).  Full mode lets them run until they stop.
QUICK_CAPS: dict[tuple[str, str], int] = {
    ("pykka", "spawn"): 2_000,
    ("pykka", "idle_memory"): 2_000,
    ("pykka", "ticking"): 1_000,
    ("thespian", "idle_memory"): 2_000,
    ("thespian", "ticking"): 1_000,
    # ~10 s of real time each; the bar is absolute, so quick mode runs it for actors only.
    ("trio", "ticker_accuracy"): 0,
}


#: Full mode only: extra sizes for peers, to locate where they stop between the scale points.
FULL_EXTRA: dict[tuple[str, str], tuple[int, ...]] = {
    ("pykka", "ticking"): (2_000, 5_000),
    ("thespian", "ticking"): (2_000, 5_000),
}


def expand_workloads(names: list[str] | None) -> tuple[str, ...]:
    if not names:
        return WORKLOADS
    chosen: list[str] = []
    for name in names:
        for w in ALIASES.get(name, (name,)):
            if w not in WORKLOADS:
                raise ValueError(f"unknown workload {name!r}; choose from {_choices()}")
            if w not in chosen:
                chosen.append(w)
    return tuple(w for w in WORKLOADS if w in chosen)


def _choices() -> str:
    return ", ".join((*WORKLOADS, *ALIASES))


def _sizes_for(sizes: Sizes, workload: str) -> tuple[int, ...]:
    if workload == "spawn":
        return sizes.spawn
    if workload == "idle_memory":
        return sizes.idle
    if workload == "ticking":
        return sizes.ticking
    if workload == "ticking_warm":
        return (WARM_N,)
    return (sizes.pingpong, sizes.fanin_per_sender, sizes.call_reply)


def job_timeout(workload: str, n: int, sizes: Sizes) -> float:
    """Generous upper bound per job: a fixed start-up allowance plus a per-item cost."""
    if workload in ("spawn", "idle_memory"):
        return 20.0 + n * 1e-3
    if workload in ("ticking", "ticking_warm"):
        return 20.0 + sizes.warmup + sizes.seconds + n * 2e-4
    if workload == "ticker_accuracy":
        return 30.0 + n * 0.01
    if workload == "fanin":
        return 15.0 + n * sizes.senders * 2e-5
    return 15.0 + n * 3e-4


def _jobs_at(
    w: str,
    n: int,
    params: dict[str, float | int | str],
    systems: list[str],
    quick: bool,
    sizes: Sizes,
) -> list[Job]:
    """One job per system for workload ``w`` at size ``n`` (peers side by side)."""
    jobs = []
    for system in systems:
        if not quick and n not in _sizes_for(sizes, w) and n not in FULL_EXTRA.get((system, w), ()):
            continue
        if system == "erlang" and params.get("probe") == "tracemalloc":
            continue
        if w == "ticking_warm" and system not in WARM_SYSTEMS:
            continue
        cap = QUICK_CAPS.get((system, w)) if quick else None
        skip = f"quick mode caps {system} at n={cap}" if cap is not None and n > cap else ""
        jobs.append(Job(system, w, n, params, job_timeout(w, n, sizes), skip))
    return jobs


def build_plan(
    quick: bool, workloads: list[str] | None = None, systems: list[str] | None = None
) -> Plan:
    """Jobs ordered by workload, then size, then system (peers side by side at each size)."""
    sizes = QUICK if quick else FULL
    chosen = [s for s in ALL_SYSTEMS if systems is None or s in systems]
    unknown = sorted(set(systems or ()) - set(ALL_SYSTEMS))
    if unknown:
        raise ValueError(f"unknown systems {unknown}; choose from {', '.join(ALL_SYSTEMS)}")
    tick = {"seconds": sizes.seconds, "warmup": sizes.warmup}
    tick |= {"tick_min": TICK_MIN, "tick_max": TICK_MAX}
    rows: list[tuple[str, int, dict[str, float | int | str]]] = []
    for w in expand_workloads(workloads):
        if w == "spawn":
            rows += [(w, n, {}) for n in sizes.spawn]
        elif w == "pingpong":
            rows.append((w, sizes.pingpong, {}))
        elif w == "fanin":
            rows.append((w, sizes.fanin_per_sender, {"senders": sizes.senders}))
        elif w == "call_reply":
            rows.append((w, sizes.call_reply, {}))
        elif w == "ticker_accuracy":
            rows.append((w, 300 if quick else 1_000, {}))
        elif w == "idle_memory":
            for n in sizes.idle:
                rows.append((w, n, {"probe": "rss"}))
                if n in sizes.tracemalloc:
                    rows.append((w, n, {"probe": "tracemalloc"}))
        elif w == "ticking_warm":
            rows.append((w, WARM_N, dict(tick)))
        else:
            extra = set() if quick else {n for k, v in FULL_EXTRA.items() if k[1] == w for n in v}
            rows += [(w, n, dict(tick)) for n in sorted({*sizes.ticking, *extra})]
    jobs: list[Job] = []
    for w, n, params in rows:
        jobs += _jobs_at(w, n, params, chosen, quick, sizes)
        alternated, runs = REPEATED.get((w, n), ((), 1))
        repeated = [] if quick else [s for s in alternated if s in chosen]
        for run in range(1, runs if len(repeated) > 1 else 1):
            timeout = job_timeout(w, n, sizes)
            jobs += [Job(s, w, n, params, timeout, repeat=run) for s in repeated]
    settings: dict[str, float | int | str] = {
        "mode": "quick" if quick else "full",
        "tick_window_s": sizes.seconds,
        "tick_warmup_s": sizes.warmup,
        "tick_min_s": TICK_MIN,
        "tick_max_s": TICK_MAX,
        "fanin_senders": sizes.senders,
        "tick_repeats_10k": 1 if quick else TICK_REPEATS,
        "tick_warm_repeats_10k": 1 if quick else WARM_REPEATS,
        "spawn_repeats_10k": 1 if quick else SPAWN_REPEATS,
        "pingpong_repeats": 1 if quick else PINGPONG_REPEATS,
    }
    return Plan(
        quick=quick,
        jobs=tuple(jobs),
        budget_s=50.0 if quick else 900.0,
        grace_s=8.0 if quick else 120.0,
        settings=settings,
    )
