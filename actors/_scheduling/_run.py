"""Entry points of schedules: run one in this process, spawn one, ask or retime a running one."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .._core._node import Node
from ._loop import ScheduleLoop
from ._schedule import EventHook, Schedule, ScheduleInfo, WallClock, resolve_wall_clock

if TYPE_CHECKING:
    from .._core._pid import PID
    from .._core._process import Process
    from ._triggers import Trigger


async def run_schedule(
    proc: Process,
    schedule: Schedule,
    *,
    wall_clock: WallClock | None = None,
    last_fire: datetime | None = None,
    on_event: EventHook | None = None,
    rng: random.Random | None = None,
) -> ScheduleInfo:
    """Drive ``schedule`` until its trigger ends or a ``Cancel`` arrives (the process function).

    Args:
        proc (Process): The schedule's process.
        schedule (Schedule): What to run and when.
        wall_clock (WallClock | None): The wall clock (default :func:`resolve_wall_clock`).
        last_fire (datetime | None): The last slot already fired (or, fixed-delay, when the
            last run finished), e.g. restored from storage; None: never fired.
        on_event (Callable[[ScheduleEvent], None] | None): Called in this process for every
            event.
        rng (random.Random | None): The jitter source.

    Returns:
        ScheduleInfo: The final counters.
    """
    loop = ScheduleLoop(proc, schedule, resolve_wall_clock(wall_clock), last_fire, on_event, rng)
    return await loop.run()


def start_schedule(
    via: Node | Process,
    schedule: Schedule,
    *,
    name: str | None = None,
    **options: Any,
) -> PID:
    """Spawn :func:`run_schedule` (linked when ``via`` is a process) and return its PID.

    Args:
        via (Node | Process): Where to spawn from.
        schedule (Schedule): The schedule.
        name (str | None): A name to register the process under.
        **options: ``wall_clock``, ``last_fire``, ``on_event``, ``rng`` for ``run_schedule``.

    Returns:
        PID: The schedule process.

    Raises:
        RuntimeError: If the node is shutting down.
        ValueError: If ``name`` is not a valid name.
        NameTaken: If another live process holds ``name``.
    """

    async def main(proc: Process) -> ScheduleInfo:
        return await run_schedule(proc, schedule, **options)

    main.__qualname__ = f"schedule:{schedule.name}"
    if isinstance(via, Node):
        return via.spawn(main, name=name)
    return via.spawn(main, name=name, link=True)


async def schedule_info(via: Node | Process, pid: PID | str) -> ScheduleInfo:
    """Ask a schedule process for its :class:`ScheduleInfo`.

    Args:
        via: The caller (a node or a process).
        pid: The schedule process: a PID or a registered name.

    Raises:
        ProcessNotFound: If ``pid`` is not a live process.
        CallTimeout: If the schedule did not answer within 5 seconds.
    """
    info: ScheduleInfo = await via.call(pid, "schedule.info")
    return info


async def retime_schedule(
    via: Node | Process,
    pid: PID | str,
    trigger: Trigger | Callable[[datetime | None, datetime], Trigger],
) -> None:
    """Give a running schedule a new trigger; it replans at once (slots already fired stay fired).

    Args:
        via (Node | Process): The caller.
        pid (PID | str): The schedule process.
        trigger (Trigger | Callable[[datetime | None, datetime], Trigger]): The new trigger, or
            a function of ``(last_fire, now)`` returning it.
    """
    await via.call(pid, "schedule.retime", trigger)
