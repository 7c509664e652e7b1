"""The node: process table, PIDs, hosts, names, spawn and introspection.

One node lives inside one trio run (``open_node``); all its state hangs off
the ``Node`` object, so two nodes in two runs never interfere. Exits, links,
monitors and forced stops live in ``_lifecycle.py``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, final

import trio

from . import _gc, _introspect, _lifecycle, _shutdown, _watchdog
from ._exceptions import CallTimeout, HostLimitReached, NameTaken, ProcessNotFound
from ._hosts import Host, check_name, check_node_options
from ._messages import Cancel, Exit, Message, NodeStatistics, ProcessInfo, ReplySlot
from ._pid import PID
from ._process import Process, _check_topic

if TYPE_CHECKING:
    from ._gc import GcPolicy
    from ._mailbox import MailboxPolicy
    from ._watchdog import WatchdogPolicy

R = TypeVar("R")

_TASK_NAME = "actors.process"  # a constant: formatting a name per spawn costs ~0.3 us


@final
class Node:
    """One actor runtime inside one trio run. Create it with ``open_node()``.

    Plain trio code uses the node to talk to processes: ``spawn``, ``send``,
    ``call``, ``cancel``, ``terminate``, ``exec``, ``wait_exit``, names and
    introspection. Processes use their own handle (``proc``), which adds
    mailboxes, monitors and links.

    Args:
        nursery: Where process tasks run (``open_node`` passes its own).
        name: The node name printed in PIDs; None for an unnamed node.
        host: The default host for spawns (declared at once).
        shutdown_grace: Seconds ``shutdown`` waits between ``Cancel`` and ``terminate`` (>= 0).
        timer_coalesce: Timers due within this many seconds of each other fire in one batch (>= 0).
        gc: The garbage collector policy; None leaves the collector alone (``open_node`` defaults to
            ``GcPolicy()``).
        watchdog: The loop-stall watchdog policy; None for none (``open_node`` defaults to
            ``WatchdogPolicy()``).

    Raises:
        ValueError: If an option is out of range or of the wrong type (the message names it).
    """

    def __init__(
        self,
        nursery: trio.Nursery,
        *,
        name: str | None = None,
        host: str = "main",
        shutdown_grace: float = 10.0,
        timer_coalesce: float = 0.001,
        gc: GcPolicy | None = None,
        watchdog: WatchdogPolicy | None = None,
    ) -> None:
        check_node_options(name, shutdown_grace, timer_coalesce)
        self.gc = _gc.check_gc_option(gc)
        self.watchdog = _watchdog.check_watchdog_option(watchdog)
        self._stalls = _watchdog.StallCounters()  # written by the watchdog thread
        self.name = name
        self.shutdown_grace = shutdown_grace
        self._nursery = nursery
        self._procs: dict[int, Process] = {}
        self._seq = itertools.count(1)
        self._spawned = 0
        self._names: dict[str, Process] = {}
        self._hosts: dict[str, Host] = {}
        self.default_host = host
        self.add_host(host)
        self._closing = False
        self._idle: trio.Event | None = None
        self._pending_kills: set[Process] = set()
        self._pending_interrupts: dict[Process, BaseException] = {}
        self._exit_watchers: list[Callable[[Exit], None]] = []
        self._kill_retry_running = False
        # Processes `shutdown` stops one at a time, newest first, before the
        # Cancel-all phase (service managers, top-level supervisors).
        self._stop_first: list[Process] = []
        # The node-wide timer service: made by actors/_time on first use; opaque to the kernel.
        self.timer_coalesce = timer_coalesce
        self._timers: object = None
        # Wall clock and trio clock read together once: `info` turns trio times into datetimes.
        self._wall_anchor = (datetime.now(UTC), trio.current_time())
        # The node group (actors/cluster) while the node is connected to others; opaque to
        # the kernel, asked only when a PID or name is not local (never on the local path).
        self._remote: Any = None
        # Process groups, the event bus, pools and user metrics (actors/_patterns), made on
        # first use; opaque to the kernel (a member leaves its groups through `on_exit`).
        self._patterns: Any = None

    def __repr__(self) -> str:
        return f"<Node {self.name or '(unnamed)'} processes={len(self._procs)}>"

    # -- hosts ----------------------------------------------------------------

    def add_host(self, name: str, *, max_processes: int | None = None) -> Host:
        """Declare a host (process group). Declaring an existing host updates its limit.

        Args:
            name: The host's name: not empty, no braces, ``|``, ``@`` or spaces.
            max_processes: Most live processes on it (an int >= 1); None for no limit. Lowering it
                below the live count refuses new spawns only.

        Returns:
            Host: The host, with its live-process ``count``.

        Raises:
            ValueError: If ``name`` or ``max_processes`` is invalid.
        """
        host = self._hosts.get(name)
        if host is None:
            host = self._hosts[name] = Host(name, max_processes)
        else:
            Host(name, max_processes)  # validate
            host.max_processes = max_processes
        return host

    def hosts(self) -> list[Host]:
        """Return the declared hosts."""
        return list(self._hosts.values())

    # -- spawning ---------------------------------------------------------------

    def spawn(
        self,
        fn: Callable[..., Coroutine[Any, Any, Any]],
        *args: object,
        host: str | None = None,
        name: str | None = None,
        mailbox: MailboxPolicy | None = None,
        trap_links: bool = False,
    ) -> PID:
        """Start ``fn(proc, *args)`` as a process (no parent) and return its PID at once.

        ``trap_links=True`` sets ``proc.trap_links`` before the process first runs.

        Args:
            fn: The process function, ``async def fn(proc, *args)``.
            *args: Passed to ``fn`` after the ``Process``.
            host: The host to run on; None for the default host.
            name: Register the process under this name before it runs (released at its exit).
            mailbox: A bound for each of its queues; None for unbounded.
            trap_links: Set ``proc.trap_links`` before its first step.

        Raises:
            RuntimeError: If the node is shutting down.
            ValueError: If ``host`` is not declared or ``name`` is not a valid name.
            HostLimitReached: If the host already runs its ``max_processes``.
            NameTaken: If another live process holds ``name``.
        """
        return self._spawn(fn, args, None, host, name, mailbox, False, False, trap_links)

    def _spawn(
        self,
        fn: Callable[..., Coroutine[Any, Any, Any]],
        args: tuple[object, ...],
        parent: Process | None,
        host_name: str | None,
        name: str | None,
        mailbox: MailboxPolicy | None,
        link: bool,
        monitor: bool,
        trap_links: bool = False,
    ) -> PID:
        if self._closing:
            raise RuntimeError("node is shutting down: spawn refused")
        host = self._hosts.get(host_name or self.default_host)
        if host is None:
            raise ValueError(f"unknown host {host_name!r}; declare it with node.add_host()")
        if host.max_processes is not None and host.count >= host.max_processes:
            raise HostLimitReached(host.name, host.max_processes)
        if name is not None:
            check_name(name)
            holder = self._names.get(name)
            if holder is not None:
                raise NameTaken(name, holder.pid)
        seq = self._spawned = next(self._seq)
        pid = PID(host.name, seq, self.name)
        proc = Process(self, pid, fn, host, mailbox, trio.current_time())
        if trap_links:
            proc._trap_links = True
        self._procs[seq] = proc
        host.count += 1
        if name is not None:
            self._names[name] = proc
            proc._names = [name]
        if parent is not None:
            if link:
                _lifecycle.add_relation(proc, "_links", parent)
                _lifecycle.add_relation(parent, "_links", proc)
            if monitor:
                proc._monitored_by = parent
        self._nursery.start_soon(_lifecycle.run_process, proc, fn, args, name=_TASK_NAME)
        return pid

    async def exec(
        self, fn: Callable[..., Coroutine[Any, Any, R]], *args: object, **options: Any
    ) -> R:
        """Spawn ``fn``, wait for it to end, and return its result or raise its error.

        Args:
            fn: The process function.
            *args: Passed to ``fn`` after the ``Process``.
            **options: ``host``, ``name``, ``mailbox``, ``trap_links``, as for ``spawn``.

        Raises:
            Exception: Whatever the process ended with (its exit error), unchanged; the errors of
                ``spawn``.
        """
        pid = self.spawn(fn, *args, **options)
        exit = await self.wait_exit(pid)
        if exit.error is not None:
            raise exit.error
        return exit.result  # type: ignore[no-any-return]

    async def wait_exit(self, dest: PID | str) -> Exit:
        """Wait until ``dest`` ends and return its ``Exit``.

        Args:
            dest: A PID, its printed form (``"{host|0x00001}"``), or a registered name (resolved
                now; ``name@node`` in a node group).

        Raises:
            ProcessNotFound: If ``dest`` is not alive now.
        """
        proc = self._resolve(dest)
        done = trio.Event()
        box: list[Exit] = []

        def hook(exit: Exit) -> None:
            box.append(exit)
            done.set()

        proc._add_exit_hook(hook)
        try:
            await done.wait()
        finally:
            proc._remove_exit_hook(hook)
        return box[0]

    # -- addressing -------------------------------------------------------------

    def _resolve(self, dest: PID | str) -> Process:
        if type(dest) is PID:
            proc = self._procs.get(dest.seq)
            if proc is not None and (proc.pid is dest or proc.pid == dest):
                return proc
            if self._remote is not None and dest.node != self.name:
                return self._remote.resolve(dest)  # type: ignore[no-any-return]
            raise ProcessNotFound(dest)
        if isinstance(dest, str):
            if dest.startswith("{"):
                return self._resolve(PID.parse(dest))
            proc = self._names.get(dest)
            if proc is None:
                if self._remote is not None:  # "name@node"
                    return self._remote.resolve_name(dest)  # type: ignore[no-any-return]
                raise ProcessNotFound(dest)
            return proc
        if isinstance(dest, PID):  # a PID subclass or tuple-equal value
            return self._resolve(PID(*dest))
        raise TypeError(f"destination must be a PID or a name, got {dest!r}")

    def is_alive(self, dest: PID | str) -> bool:
        """Whether ``dest`` names a live local process (False for other nodes' PIDs).

        Args:
            dest: A PID, its printed form (``"{host|0x00001}"``), or a registered name (resolved
                now; ``name@node`` in a node group).
        """
        try:
            return not self._resolve(dest)._is_remote
        except (ProcessNotFound, ValueError):
            return False

    def send(self, dest: PID | str, topic: str, payload: object = None) -> None:
        """Send from plain trio code (the message's ``sender`` is None). See ``Process.send``.

        Args:
            dest: A PID, its printed form (``"{host|0x00001}"``), or a registered name (resolved
                now; ``name@node`` in a node group).
            topic: Routes the message; must not start with ``@``.
            payload: Passed by reference; prefer immutable values.

        Raises:
            ProcessNotFound: If ``dest`` is not a live process.
            MailboxFull: If the target's bounded mailbox refuses it.
            ValueError: If the topic is empty, reserved or not a string.
        """
        _check_topic(topic)
        self._resolve(dest)._deliver(Message(topic, payload, None))

    async def call(
        self, dest: PID | str, topic: str, payload: object = None, *, timeout: float = 5.0
    ) -> Any:
        """Call a process from plain trio code. See ``Process.call``.

        Args:
            dest: A PID, its printed form (``"{host|0x00001}"``), or a registered name (resolved
                now; ``name@node`` in a node group).
            topic: Routes the request; must not start with ``@``.
            payload: Passed by reference.
            timeout: Seconds to wait for the reply (> 0).

        Returns:
            Any: The value the target passed to ``reply`` (or its ``Server.handle_call`` returned).

        Raises:
            ProcessNotFound: At once, if ``dest`` is not a live process.
            CallTimeout: If no reply came within ``timeout`` seconds.
            CallFailed: If the target exited first, or replied with an error.
            ValueError: If the topic is invalid or ``timeout`` is not > 0.
        """
        return await self._call(None, dest, topic, payload, timeout)

    async def _call(
        self, sender: PID | None, dest: PID | str, topic: str, payload: object, timeout: float
    ) -> Any:
        _check_topic(topic)
        if not timeout > 0:
            raise ValueError(f"call timeout must be > 0 seconds, got {timeout!r}")
        target = self._resolve(dest)
        slot = ReplySlot(target.pid, topic)
        target._add_exit_hook(slot.target_exited)
        try:
            target._deliver(Message(topic, payload, sender, slot))
            with trio.move_on_after(timeout):
                return await slot.wait()
            raise CallTimeout(target.pid, topic, timeout)
        finally:
            slot.close()
            target._remove_exit_hook(slot.target_exited)

    def cancel(self, dest: PID | str, reason: str = "") -> None:
        """Post a ``Cancel`` event to ``dest`` from plain trio code (cooperative).

        Args:
            dest: A PID, its printed form (``"{host|0x00001}"``), or a registered name (resolved
                now; ``name@node`` in a node group).
            reason: Carried by the ``Cancel`` (its ``reason``).

        Raises:
            ProcessNotFound: If ``dest`` is not a live process.
        """
        self._cancel(None, dest, reason)

    def _cancel(self, sender: PID | None, dest: PID | str, reason: str) -> None:
        proc = self._resolve(dest)
        event = Cancel(sender, reason, trio.current_time())
        if proc._is_remote:
            proc._cancel_requested = True
            proc._post_event(event)
        else:
            _lifecycle.post_cancel(proc, event)

    def terminate(self, dest: PID | str) -> None:
        """Stop ``dest`` by force; it exits with ``Terminated`` (reason error).

        Args:
            dest: A PID, its printed form (``"{host|0x00001}"``), or a registered name (resolved
                now; ``name@node`` in a node group).

        Raises:
            ProcessNotFound: If ``dest`` is not a live process.
        """
        target = self._resolve(dest)
        if target._is_remote:
            target._terminate()  # type: ignore[attr-defined]
        else:
            _lifecycle.terminate(target, shutdown=False)

    # -- names ------------------------------------------------------------------

    def register(self, name: str, pid: PID) -> None:
        """Register ``name`` for ``pid``: idempotent for the same PID, an error for another.

        Args:
            name: A non-empty string not starting with ``{`` or ``@``.
            pid: A live local process.

        Raises:
            NameTaken: If another live process holds ``name``.
            ProcessNotFound: If ``pid`` is not alive.
            ValueError: If ``name`` is invalid, or ``pid`` is on another node.
        """
        check_name(name)
        proc = self._resolve(pid)
        if proc._is_remote:
            raise ValueError(f"cannot register {name!r} for {pid}: names are local to a node")
        holder = self._names.get(name)
        if holder is proc:
            return
        if holder is not None:
            raise NameTaken(name, holder.pid)
        self._names[name] = proc
        if proc._names is None:
            proc._names = [name]
        else:
            proc._names.append(name)

    def unregister(self, name: str) -> bool:
        """Release ``name``; return whether it was registered.

        Args:
            name: The name to release.
        """
        proc = self._names.pop(name, None)
        if proc is None:
            return False
        if proc._names is not None:
            proc._names.remove(name)
        return True

    def lookup(self, name: str) -> PID | None:
        """Return the PID registered under ``name``, or None.

        Args:
            name: A name registered on this node.
        """
        proc = self._names.get(name)
        return None if proc is None else proc.pid

    # -- introspection ------------------------------------------------------------

    def processes(self, *, host: str | None = None) -> list[PID]:
        """Return the PIDs of live processes, oldest first (optionally of one host).

        Args:
            host: Only this host's processes; None for all.
        """
        return [p.pid for p in self._procs.values() if host is None or p.host.name == host]

    def info(self, dest: PID | str) -> ProcessInfo:
        """Describe a live local process: status, mailbox depth, links, monitors, names.

        Args:
            dest: A PID, its printed form (``"{host|0x00001}"``), or a registered name (resolved
                now; ``name@node`` in a node group).

        Raises:
            ProcessNotFound: If ``dest`` is not a live local process.
        """
        proc = self._resolve(dest)
        if proc._is_remote:
            raise ProcessNotFound(dest)
        return _introspect.process_info(proc, self._wall_anchor)

    def statistics(self, *, top: int = 5) -> NodeStatistics:
        """Return process counts, the ``top`` longest mailbox queues, collector counters and
        the loop stalls the watchdog saw.

        Finding the longest queues looks at every process (a few ms at 100,000).

        Args:
            top: How many of the longest queues to list in ``longest_queues``.
        """
        return _introspect.node_statistics(self, top)

    def __len__(self) -> int:
        return len(self._procs)

    # -- shutdown -----------------------------------------------------------------

    async def wait_all_exited(self) -> None:
        """Wait until no process is alive."""
        while self._procs:
            if self._idle is None:
                self._idle = trio.Event()
            await self._idle.wait()

    async def shutdown(self, grace: float | None = None) -> None:
        """Stop every process: ``Cancel`` to all, wait ``grace`` seconds, terminate the rest.

        Processes registered with ``_stop_first`` (service managers, top-level
        supervisors) are cancelled first, one at a time and newest first, each
        awaited before the next, so they can stop what they own in order. Then
        every remaining process gets ``Cancel``. Both phases share the one
        ``grace`` period. Processes that return after the ``Cancel``, and those
        terminated after the grace period, exit with reason ``shutdown`` (not
        logged as crashes). New spawns are refused from now on. A process that
        swallows its termination is logged with its stack right after the
        terminate and again at doubling intervals; this waits until it exits.

        Args:
            grace: Seconds between the first ``Cancel`` and ``terminate`` for both phases together;
                None for the node's ``shutdown_grace``.
        """
        grace = self.shutdown_grace if grace is None else grace
        self._closing = True
        deadline = trio.current_time() + grace
        with trio.move_on_at(deadline):
            while self._stop_first:
                proc = self._stop_first.pop()
                if _lifecycle._alive(proc):
                    self._cancel(None, proc.pid, "node shutdown")
                    await self.wait_exit(proc.pid)
        with _shutdown.gc_paused():  # a full collection of a heap that is being freed is waste
            cancel = Cancel(None, "node shutdown", trio.current_time())  # one event for all
            for proc in list(self._procs.values()):
                _lifecycle.post_cancel(proc, cancel)
            with trio.move_on_at(min(deadline, trio.current_time() + _shutdown.GC_PAUSE)):
                await self.wait_all_exited()
        with trio.move_on_at(deadline):
            await self.wait_all_exited()
        if self._procs:
            _shutdown.terminate_all(self._procs)
            await _shutdown.wait_or_report(self._procs, self.wait_all_exited)

    def watch_exits(self, callback: Callable[[Exit], None]) -> Callable[[], None]:
        """Call ``callback(exit)`` for every process of this node that exits from now on.

        It runs synchronously while the process's exit is delivered (before its
        monitors get the ``Exit``): it must not block, and should not raise.
        One callback for the whole node is much cheaper than a ``wait_exit``
        task per process (``actors run`` uses it to count the processes
        terminated at shutdown).

        Args:
            callback: Called with each ``Exit``.

        Returns:
            A function that stops the callback (calling it twice is harmless).
        """
        self._exit_watchers.append(callback)

        def stop() -> None:
            if callback in self._exit_watchers:
                self._exit_watchers.remove(callback)

        return stop

    def _add_stop_first(self, pid: PID) -> None:
        """Have ``shutdown`` cancel ``pid`` and wait for it before the Cancel-all phase."""
        proc = self._resolve(pid)
        self._stop_first.append(proc)

        def forget() -> None:
            if proc in self._stop_first:
                self._stop_first.remove(proc)

        proc.on_exit(forget)
