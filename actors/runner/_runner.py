"""The Runner: std.scheduler's programs and spawns, as processes.

A runner is one process (``start_runner``) holding *programs*. A :class:`Program` says what to
run (``main_fn``), how often (``interval`` or a ``trigger``), the state its results fold into
(``create_fn`` then ``merge_fn``), and how many *spawns* it may have (``min``..``max``). Each spawn
is a process of its own, linked to the runner, that drives the program's schedule
(``run_schedule``): every tick runs ``main_fn(proc, ctx)`` in a new run process under the
program's overlap and catch-up policies. The runner folds every run's result into the program
state, counts runs, and restarts a spawn that crashes (with backoff).

Everything is asked through the :class:`Runner` handle, whose async methods ``call`` the runner
process. Changes answer with explicit values: :class:`Installed`, :class:`Spawned`,
:class:`Unspawned`, :class:`Uninstalled`, or :class:`Refused` (falsy) with the reason; nothing is
refused silently. See docs/semantics.md, "The Runner".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, final

from .._core._node import Node
from .._scheduling._schedule import WallClock
from .._time._duration import DurationLike
from ._loop import runner_main
from ._program import Installed, Program, Raise, Refused, Spawned, Uninstalled, Unspawned

if TYPE_CHECKING:
    from .._core._pid import PID
    from .._core._process import Process


@final
class Runner:
    """The handle of a runner process; every method is a call to it.

    Made by :func:`start_runner`; build one directly only to address a runner started
    elsewhere. Besides the errors each method names, every method raises what
    ``Process.call`` raises when the runner cannot answer: ``ProcessNotFound`` (no runner
    process), ``CallTimeout`` (no reply within the timeout) or ``CallFailed`` (it exited first).

    Args:
        via (Node | Process): The caller the handle calls the runner with.
        pid (PID): The runner process.
        timeout (float): The call timeout, in seconds, of every method that takes none.
    """

    __slots__ = ("pid", "timeout", "via")

    def __init__(self, via: Node | Process, pid: PID, *, timeout: float = 30.0) -> None:
        self.via = via
        self.pid = pid
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"<Runner {self.pid}>"

    async def _call(self, topic: str, payload: object = None, timeout: float | None = None) -> Any:
        reply = await self.via.call(
            self.pid, topic, payload, timeout=self.timeout if timeout is None else timeout
        )
        if isinstance(reply, Raise):
            raise reply.error
        return reply

    async def install(self, program: Program) -> Installed | Refused:
        """Install ``program`` (replacing one with the same id) and start ``min`` spawns.

        Async. A replaced program's spawns are stopped gracefully, and its state is dropped:
        the new one starts from ``program.create_fn()``.

        Args:
            program (Program): The program to install.

        Returns:
            Installed | Refused: The ids of the spawns started and whether a program was
            replaced; or ``Refused`` if the runner is stopping.

        Raises:
            TypeError: If ``program`` is not a :class:`Program`.
            Exception: Whatever ``program.create_fn()`` raised (nothing is installed).
        """
        if not isinstance(program, Program):
            raise TypeError(f"install needs a Program, got {program!r}")
        result: Installed | Refused = await self._call("runner.install", program)
        return result

    async def uninstall(self, program: str) -> Uninstalled | Refused:
        """Stop every spawn of ``program`` gracefully, wait for them, and forget it.

        Async; returns once every spawn has exited.

        Args:
            program (str): The program id.

        Returns:
            Uninstalled | Refused: How many spawns were stopped; or ``Refused`` if no such
            program is installed.
        """
        result: Uninstalled | Refused = await self._call("runner.uninstall", program)
        return result

    async def spawn(self, program: str) -> Spawned | Refused:
        """Start one more spawn; refused at ``max``.

        Async.

        Args:
            program (str): The program id.

        Returns:
            Spawned | Refused: The new spawn's id and process; or ``Refused`` if the runner is
            stopping, no such program is installed, or it has ``max`` spawns already.
        """
        result: Spawned | Refused = await self._call("runner.spawn", program)
        return result

    async def unspawn(self, program: str, *, kill: bool = False) -> Unspawned | Refused:
        """Stop one spawn (the program's ``victim``); refused at ``min``.

        Graceful by default: the spawn starts no new run and its run in flight may finish
        (at most one more tick). ``kill=True`` terminates it and its run in flight. Async;
        returns once the stop is sent, not when the spawn has exited.

        Args:
            program (str): The program id.
            kill (bool): Terminate the spawn and its run in flight instead of a graceful stop.

        Returns:
            Unspawned | Refused: The spawn stopping; or ``Refused`` if no such program is
            installed, it has no spawn, or it has only ``min`` spawns.
        """
        result: Unspawned | Refused = await self._call("runner.unspawn", (program, kill))
        return result

    async def trigger(self, program: str, *, timeout: float | None = None) -> Any:
        """Run ``main_fn`` once now and wait: return its result (also merged into the state).

        Async. The run is a process of its own, outside every spawn and its overlap policy;
        its ``RunContext.spawn`` is None and it counts in ``ProgramInfo.triggered``.

        Args:
            program (str): The program id.
            timeout (float | None): Seconds to wait for the result; None uses the handle's.

        Returns:
            Any: What ``main_fn`` returned.

        Raises:
            ProgramNotFound: If no such program is installed.
            RuntimeError: If the runner is stopping.
            CallTimeout: If the run did not finish within ``timeout`` (it goes on).
            Exception: Whatever ``main_fn`` raised.
        """
        return await self._call("runner.trigger", program, timeout)

    async def get_state(self, program: str) -> Any:
        """Return the program state: ``create_fn()`` folded with every result by ``merge_fn``.

        Async.

        Args:
            program (str): The program id.

        Raises:
            ProgramNotFound: If no such program is installed.
        """
        return await self._call("runner.get_state", program)

    async def set_interval(self, program: str, interval: DurationLike) -> None:
        """Change an interval program's interval, for every spawn, from its next tick.

        The next tick comes one new interval after the previous tick (at once if that time has
        passed); new spawns use it too. Async.

        Args:
            program (str): The program id.
            interval (DurationLike): The new interval: seconds, a duration string (``"5m"``)
                or a ``timedelta``; must be > 0.

        Raises:
            ProgramNotFound: If no such program is installed.
            ValueError: If the program runs on a ``trigger``, or ``interval`` is malformed
                or not > 0.
        """
        await self._call("runner.set_interval", (program, interval))

    async def info(self, program: str | None = None) -> Any:
        """Return one program's :class:`ProgramInfo`, or a dict of all of them by id.

        Async.

        Args:
            program (str | None): The program id; None for every program.

        Returns:
            Any: A :class:`ProgramInfo`, or a ``dict[str, ProgramInfo]`` sorted by id.

        Raises:
            ProgramNotFound: If ``program`` is given and no such program is installed.
        """
        return await self._call("runner.info", program)

    async def stop(self, *, timeout: float | None = None) -> None:
        """Stop gracefully: no new runs; runs in flight finish; then the runner exits.

        Async; returns when every spawn has stopped (each program's ``stop_timeout`` bounds
        how long its run in flight may take).

        Args:
            timeout (float | None): Seconds to wait; None uses the handle's.
        """
        await self._call("runner.stop", False, timeout)

    async def kill(self, *, timeout: float | None = None) -> None:
        """Stop now: every spawn and run in flight is terminated; then the runner exits.

        Async; returns when every spawn has exited.

        Args:
            timeout (float | None): Seconds to wait; None uses the handle's.
        """
        await self._call("runner.stop", True, timeout)


def start_runner(
    via: Node | Process,
    *,
    name: str | None = None,
    host: str | None = None,
    wall_clock: WallClock | None = None,
    timeout: float = 30.0,
) -> Runner:
    """Start a runner process and return its handle.

    From a ``Node`` the runner has no parent and is stopped first at node shutdown; from a
    ``Process`` it is linked to that process.

    Args:
        via (Node | Process): Where to start it from (and the caller the handle calls with).
        name (str | None): A name to register it under.
        host (str | None): The host of the runner process.
        wall_clock (WallClock | None): The wall clock its schedules read.
        timeout (float): The handle's call timeout, in seconds.

    Returns:
        Runner: The handle.

    Raises:
        NameTaken: If another live process holds ``name``.
        ValueError: If ``name`` is not a valid process name, or ``host`` is not a host of the
            node.
        HostLimitReached: If the host is at its ``max_processes``.
        RuntimeError: If the node is shutting down.
    """
    if isinstance(via, Node):
        pid = via.spawn(runner_main, wall_clock, name=name, host=host)
        via._add_stop_first(pid)
    else:
        pid = via.spawn(runner_main, wall_clock, name=name, host=host, link=True)
    return Runner(via, pid, timeout=timeout)
