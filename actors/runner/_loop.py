"""The runner process: programs, their spawns (supervised), merged state and counters.

See ``_runner.py`` for the model. One task, one loop: calls from ``Runner`` handles, events
reported by spawns (``runner.event``), and ``Exit``s of spawns and manual-trigger runs.
"""

from __future__ import annotations

import contextlib
import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs
import trio

from .._core._exceptions import LinkedProcessFailed, ProcessNotFound
from .._core._logging import get_logger
from .._core._messages import Cancel, Exit, ExitReason, LinkDown, Message
from .._scheduling._schedule import (
    Fire,
    ScheduleEvent,
    WallClock,
    resolve_wall_clock,
)
from .._scheduling._triggers import IntervalTrigger, Trigger
from .._supervision._stop import forget, linked_to
from .._time._select import select
from ._program import (
    Installed,
    Program,
    ProgramNotFound,
    Raise,
    Refused,
    RunContext,
    Spawned,
    Uninstalled,
    Unspawned,
)
from ._spawn import Cell, ProgramRecord, SpawnRecord, spawn_main, trigger_main

if TYPE_CHECKING:
    from .._core._pid import PID
    from .._core._process import Process

log = get_logger("actors.runner")


async def runner_main(proc: Process, wall_clock: WallClock | None) -> None:
    """The runner process function (see ``start_runner``)."""
    await _RunnerLoop(proc, resolve_wall_clock(wall_clock)).run()


class _RunnerLoop:
    def __init__(self, proc: Process, wall: WallClock) -> None:
        self.proc = proc
        self.wall = wall
        self.programs: dict[str, ProgramRecord] = {}
        self.spawn_pids: dict[PID, tuple[ProgramRecord, SpawnRecord]] = {}
        self.trigger_pids: dict[PID, tuple[ProgramRecord, Message]] = {}
        self.stoppers: list[Message] | None = None  # set once the runner is stopping

    async def run(self) -> None:
        proc = self.proc
        proc.trap_links = True
        proc.trap_cancel = True  # a Cancel is handled as an event: children are stopped first
        parents = linked_to(proc)
        try:
            while self.stoppers is None or self.spawn_pids or self.trigger_pids:
                due = min((s.restart_at for s in self._all_spawns() if s.restart_at), default=None)
                got = None
                if due is None or due > trio.current_time():
                    with trio.move_on_at(math.inf if due is None else due):
                        # Messages first: a spawn's reports, sent before it exits, are
                        # then always counted before its Exit is handled.
                        got = await select(proc.inbox, proc.events)
                if got is None:
                    self._restart_due()
                elif got.source is proc.inbox:
                    self._on_message(got.value)
                else:
                    event = got.value
                    if isinstance(event, Cancel):
                        self._begin_stop(kill=False)
                    elif isinstance(event, LinkDown):
                        if event.pid in parents:
                            self._begin_stop(kill=True)
                            if event.reason is ExitReason.ERROR:
                                raise LinkedProcessFailed(event.pid, event.error)
                            return
                    else:
                        self._on_exit(event)
        finally:
            for pid in [*self.spawn_pids, *self.trigger_pids]:
                with contextlib.suppress(ProcessNotFound):
                    proc.node.terminate(pid)
        for message in self.stoppers or ():
            proc.reply(message, None)

    def _all_spawns(self) -> list[SpawnRecord]:
        return [s for p in self.programs.values() for s in p.spawns]

    # -- requests -------------------------------------------------------------------

    def _on_message(self, message: Message) -> None:
        topic, payload = message.topic, message.payload
        if topic == "runner.event":
            self._on_spawn_event(message)
            return
        if message.reply_to is None:
            log.debug("runner ignored message", topic=topic)
            return
        handler = _HANDLERS.get(topic)
        if handler is None:
            self.proc.reply(message, Raise(ValueError(f"runner: unknown request {topic!r}")))
            return
        try:
            reply = handler(self, message, payload)
        except Exception as error:  # a user hook (create_fn) or a bad argument
            reply = Raise(error)
        if reply is not _DEFERRED:
            self.proc.reply(message, reply)

    def _program(self, program: object) -> ProgramRecord:
        rec = self.programs.get(program) if isinstance(program, str) else None
        if rec is None:
            raise ProgramNotFound(str(program))
        return rec

    def _install(self, _: Message, spec: Program) -> object:
        if self.stoppers is not None:
            return Refused("the runner is stopping")
        if not isinstance(spec, Program):
            raise TypeError(f"install needs a Program, got {spec!r}")
        cell = Cell(spec.create_fn())
        old = self.programs.pop(spec.id, None)
        if old is not None:
            self._remove(old)
        rec = self.programs[spec.id] = ProgramRecord(spec, cell)
        started = tuple(self._start_spawn(rec).id for _ in range(spec.min))
        log.info(
            "program installed", program=spec.id, spawns=len(started), replaced=old is not None
        )
        return Installed(spec.id, started, old is not None)

    def _uninstall(self, message: Message, program: str) -> object:
        rec = self.programs.pop(program, None) if isinstance(program, str) else None
        if rec is None:
            return Refused(f"no program {program!r} is installed")
        count = self._remove(rec)
        log.info("program uninstalled", program=program, spawns=count)
        if not rec.spawns:
            return Uninstalled(program, count)
        rec.waiters.append(message)
        return _DEFERRED

    def _remove(self, rec: ProgramRecord) -> int:
        rec.removed = True
        live = list(rec.spawns)
        rec.stopped = len(live)
        for spawn in live:
            self._stop_spawn(rec, spawn, kill=False)
        return len(live)

    def _spawn(self, _: Message, program: str) -> object:
        if self.stoppers is not None:
            return Refused("the runner is stopping")
        rec = self.programs.get(program) if isinstance(program, str) else None
        if rec is None:
            return Refused(f"no program {program!r} is installed")
        limit = rec.spec.max
        if limit is not None and len(rec.active()) >= limit:
            return Refused(f"program {program!r} is at its max of {limit} spawns")
        spawn = self._start_spawn(rec)
        assert spawn.pid is not None
        return Spawned(program, spawn.id, spawn.pid)

    def _unspawn(self, _: Message, payload: tuple[str, bool]) -> object:
        program, kill = payload
        rec = self.programs.get(program) if isinstance(program, str) else None
        if rec is None:
            return Refused(f"no program {program!r} is installed")
        active = rec.active()
        if not active:
            return Refused(f"program {program!r} has no spawn to stop")
        if len(active) <= rec.spec.min:
            return Refused(f"program {program!r} is at its min of {rec.spec.min} spawns")
        victim = active[0] if rec.spec.victim == "first" else active[-1]
        pid = victim.pid
        self._stop_spawn(rec, victim, kill=bool(kill))
        return Unspawned(program, victim.id, pid, bool(kill))

    def _trigger(self, message: Message, program: str) -> object:
        if self.stoppers is not None:
            raise RuntimeError("the runner is stopping")
        rec = self._program(program)
        spec = rec.spec
        now = self.wall()
        rec.triggered += 1
        fire = Fire(scheduled=now, started=now, run=rec.triggered, name=f"{spec.id}#trigger")
        ctx = RunContext(spec.id, None, fire, rec.cell.value)
        pid = self.proc.spawn(trigger_main, spec, ctx, host=spec.host, link=True, monitor=True)
        self.trigger_pids[pid] = (rec, message)
        return _DEFERRED

    def _get_state(self, _: Message, program: str) -> object:
        return self._program(program).cell.value

    def _set_interval(self, _: Message, payload: tuple[str, object]) -> object:
        program, interval = payload
        rec = self._program(program)
        if rec.spec.interval is None:
            raise ValueError(f"program {program!r} runs on a trigger, not an interval")
        rec.spec = attrs.evolve(rec.spec, interval=interval)
        period = timedelta(seconds=rec.spec.interval or 0)
        fixed_delay = rec.spec.fixed_delay

        def retime(last_fire: datetime | None, now: datetime) -> Trigger:
            start = now + period if last_fire is None else last_fire + period
            return IntervalTrigger(period, start=start, fixed_delay=fixed_delay)

        for spawn in rec.active():
            if spawn.pid is not None:
                self.proc.send(spawn.pid, "schedule.retime", retime)
        log.info("program interval set", program=program, interval=rec.spec.interval)
        return None

    def _info(self, _: Message, program: str | None) -> object:
        if program is None:
            return {key: rec.info() for key, rec in sorted(self.programs.items())}
        return self._program(program).info()

    def _stop(self, message: Message, kill: bool) -> object:
        self._begin_stop(kill=bool(kill))
        assert self.stoppers is not None
        self.stoppers.append(message)
        return _DEFERRED

    # -- spawns ---------------------------------------------------------------------

    def _start_spawn(self, rec: ProgramRecord, spawn: SpawnRecord | None = None) -> SpawnRecord:
        if spawn is None:
            spawn = SpawnRecord(rec.next_id, self.wall())
            rec.next_id += 1
            rec.spawns.append(spawn)
        spec = rec.spec
        pid = self.proc.spawn(
            spawn_main, self.proc.pid, spec, spawn.id, rec.cell, self.wall, spawn.last_fire,
            host=spec.host, link=True, monitor=True,
        )  # fmt: skip
        spawn.pid, spawn.restart_at, spawn.started_mono = pid, None, trio.current_time()
        self.spawn_pids[pid] = (rec, spawn)
        log.debug("spawn started", program=spec.id, spawn=spawn.id, pid=pid)
        return spawn

    def _stop_spawn(self, rec: ProgramRecord, spawn: SpawnRecord, *, kill: bool) -> None:
        spawn.stopping = True
        pid = spawn.pid
        if pid is None:  # waiting to restart: just drop it
            rec.spawns.remove(spawn)
            self._maybe_done(rec)
            return
        if not self.proc.node.is_alive(pid):  # already ended; its Exit is on its way
            return
        if kill:
            self.proc.node.terminate(pid)
        else:
            self.proc.cancel(pid, "unspawn")
        log.info("spawn stopping", program=rec.spec.id, spawn=spawn.id, pid=pid, kill=kill)

    def _on_exit(self, exit: Exit) -> None:
        pid = exit.pid
        forget(self.proc, pid)
        trigger = self.trigger_pids.pop(pid, None)
        if trigger is not None:
            rec, message = trigger
            if exit.error is None:
                self._merge(rec, exit.result)
                self.proc.reply(message, exit.result)
            else:
                self.proc.reply(message, Raise(exit.error))
            return
        found = self.spawn_pids.pop(pid, None)
        if found is None:
            return
        rec, spawn = found
        spawn.pid = None
        if spawn.stopping or rec.removed or self.stoppers is not None:
            if spawn in rec.spawns:
                rec.spawns.remove(spawn)
            self._maybe_done(rec)
            return
        if exit.reason is not ExitReason.ERROR:  # its trigger ended: nothing left to run
            rec.spawns.remove(spawn)
            log.info("spawn finished", program=rec.spec.id, spawn=spawn.id)
            return
        ran = trio.current_time() - spawn.started_mono
        delay = spawn.backoff.record_failure(max(ran, 0.0)) or 0.0
        spawn.restart_at = trio.current_time() + delay
        log.warning(
            "spawn restarting", program=rec.spec.id, spawn=spawn.id, error=repr(exit.error),
            delay=f"{delay:.3f}s",
        )  # fmt: skip

    def _restart_due(self) -> None:
        now = trio.current_time()
        for rec in list(self.programs.values()):
            for spawn in rec.spawns:
                if spawn.restart_at is not None and spawn.restart_at <= now:
                    self._start_spawn(rec, spawn)

    def _maybe_done(self, rec: ProgramRecord) -> None:
        if rec.removed and not rec.spawns:
            for message in rec.waiters:
                self.proc.reply(message, Uninstalled(rec.spec.id, rec.stopped))
            rec.waiters.clear()

    def _begin_stop(self, *, kill: bool) -> None:
        if self.stoppers is None:
            self.stoppers = []
        for rec in list(self.programs.values()):
            for spawn in list(rec.spawns):
                if not spawn.stopping or kill:
                    self._stop_spawn(rec, spawn, kill=kill)
        if kill:
            for pid in self.trigger_pids:
                self.proc.node.terminate(pid)

    # -- results --------------------------------------------------------------------

    def _on_spawn_event(self, message: Message) -> None:
        found = self.spawn_pids.get(message.sender) if message.sender is not None else None
        event = message.payload
        if found is None or not isinstance(event, ScheduleEvent):
            return
        rec, spawn = found
        fire = event.fire
        if fire is not None and event.kind in ("started", "skipped"):
            # What its schedule has planned past: a restart resumes after it.
            spawn.last_fire = fire if spawn.last_fire is None else max(spawn.last_fire, fire)
        counter = _EVENT_COUNTERS.get(event.kind)
        if counter is not None:
            rec.counts[counter] += event.count
            spawn.counts[counter] += event.count
        if not event.exact:
            rec.exact = spawn.exact = False
        if event.kind == "succeeded":
            self._merge(rec, event.result)

    def _merge(self, rec: ProgramRecord, result: Any) -> None:
        try:
            rec.cell.value = rec.spec.merge_fn(rec.cell.value, result)
        except Exception as error:
            log.error("merge_fn failed", program=rec.spec.id, error=repr(error), exc_info=error)


_DEFERRED = object()
_EVENT_COUNTERS = {
    "started": "submitted",
    "succeeded": "succeeded",
    "failed": "errored",
    "skipped": "skipped",
    "cancelled": "cancelled",
}
_HANDLERS: dict[str, Any] = {
    "runner.install": _RunnerLoop._install,
    "runner.uninstall": _RunnerLoop._uninstall,
    "runner.spawn": _RunnerLoop._spawn,
    "runner.unspawn": _RunnerLoop._unspawn,
    "runner.trigger": _RunnerLoop._trigger,
    "runner.get_state": _RunnerLoop._get_state,
    "runner.set_interval": _RunnerLoop._set_interval,
    "runner.info": _RunnerLoop._info,
    "runner.stop": _RunnerLoop._stop,
}
