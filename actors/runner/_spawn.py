"""The runner's records of programs and spawns, and the spawn and manual-run process bodies."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import attrs

from .._core._crashlog import function_label, set_label
from .._scheduling._run import run_schedule
from .._scheduling._schedule import Fire, Schedule, ScheduleEvent, WallClock, every
from .._supervision._backoff import Backoff, BackoffState
from ._program import Counts, Program, ProgramInfo, RunContext, SpawnInfo

if TYPE_CHECKING:
    from .._core._messages import Message
    from .._core._pid import PID
    from .._core._process import Process

_COUNTERS = ("submitted", "succeeded", "errored", "skipped", "cancelled")


@attrs.define(eq=False)
class Cell:
    """The program state, shared by reference with the spawns (written only by the runner)."""

    value: Any


@attrs.define(eq=False)
class SpawnRecord:
    id: int
    started: datetime
    pid: PID | None = None
    stopping: bool = False
    restart_at: float | None = None
    backoff: BackoffState = attrs.field(factory=lambda: BackoffState(Backoff()))
    started_mono: float = 0.0
    counts: dict[str, int] = attrs.field(factory=lambda: dict.fromkeys(_COUNTERS, 0))
    last_fire: datetime | None = None
    """The latest slot its schedule started or skipped: a restart resumes after it."""
    exact: bool = True  # False once a skipped count was a lower bound

    def info(self) -> SpawnInfo:
        status: Literal["running", "stopping", "restarting"] = (
            "stopping" if self.stopping else "restarting" if self.pid is None else "running"
        )
        counts = Counts(**self.counts, exact=self.exact)
        return SpawnInfo(self.id, self.pid, status, self.started, counts)


@attrs.define(eq=False)
class ProgramRecord:
    spec: Program
    cell: Cell
    spawns: list[SpawnRecord] = attrs.field(factory=list)
    next_id: int = 1
    counts: dict[str, int] = attrs.field(factory=lambda: dict.fromkeys(_COUNTERS, 0))
    triggered: int = 0
    removed: bool = False
    stopped: int = 0  # spawns stopped by uninstall
    waiters: list[Message] = attrs.field(factory=list)  # uninstall calls awaiting the stop
    exact: bool = True  # False once a skipped count was a lower bound

    def active(self) -> list[SpawnRecord]:
        return [s for s in self.spawns if not s.stopping]

    def info(self) -> ProgramInfo:
        spec = self.spec
        spawns = tuple(s.info() for s in self.spawns)
        return ProgramInfo(
            spec.id,
            spec.interval,
            spec.min,
            spec.max,
            spawns,
            Counts(**self.counts, exact=self.exact),
            self.triggered,
        )


async def spawn_main(
    proc: Process,
    runner: PID,
    spec: Program,
    spawn_id: int,
    cell: Cell,
    wall: WallClock,
    last_fire: datetime | None = None,
) -> Any:
    """One spawn: drive the program's schedule, reporting every event to the runner.

    ``last_fire`` is the latest slot an earlier incarnation of this spawn handled: a restarted
    spawn resumes after it instead of planning its trigger's whole past again (which would
    run the latest slot a second time under ``catch_up="once"``).
    """
    trigger: Any = spec.trigger
    if trigger is None:
        assert spec.interval is not None
        trigger = every(spec.interval, first=spec.delay, fixed_delay=spec.fixed_delay)
    main_fn = spec.main_fn

    async def job(run_proc: Process, fire: Fire) -> Any:
        return await main_fn(run_proc, RunContext(spec.id, spawn_id, fire, cell.value))

    set_label(job, function_label(main_fn))  # crash lines and ps name the user's function

    def report(event: ScheduleEvent) -> None:
        proc.send(runner, "runner.event", event)

    schedule = Schedule(
        trigger,
        job,
        name=f"{spec.id}#{spawn_id}",
        overlap=spec.overlap,
        policy=spec.policy,
        max_jitter=spec.max_jitter,
        stop_timeout=spec.stop_timeout,
        host=spec.host,
    )
    return await run_schedule(proc, schedule, wall_clock=wall, on_event=report, last_fire=last_fire)


async def trigger_main(proc: Process, spec: Program, ctx: RunContext) -> Any:
    """A manual run of ``main_fn``."""
    return await spec.main_fn(proc, ctx)
