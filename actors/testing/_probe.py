"""``Probe``: a process-backed test actor that records what it receives and asserts on it.

A probe is a real process on the node (it has a PID, it can be sent to, called, linked and
monitored); every message and event delivered to it is recorded in order, at the moment of
delivery (its process class is swapped for a recording subclass), so a message sent before an
``expect_*`` is already there: no scheduling round in between.
The test reads the record through ``expect_*``, ``fish_for`` and ``receive_all``. Waiting is on
trio's clock, so ``within=`` costs nothing under a virtual (autojump) clock.
"""

from __future__ import annotations

import fnmatch
from collections import deque
from collections.abc import Callable
from typing import Any, final

import trio

from .._core._messages import Cancel, Event, Exit, ExitReason, Message
from .._core._node import Node
from .._core._pid import PID
from .._core._process import Process

Received = Message | Event
"""What a probe records: a message, or an event (``Exit``, ``LinkDown``, ``Cancel``)."""

Match = Callable[[Any], bool] | object
"""A predicate on the payload, or a value the payload must equal."""

_SHOWN = 20
_PROBES: dict[Process, Probe] = {}


def _forget(table: dict[Process, Any], proc: Process) -> None:
    table.pop(proc, None)


class _Recording(Process):  # type: ignore[misc]  # Process is final for users, not for the kit
    __slots__ = ()

    def _deliver(self, message: Message) -> None:
        _PROBES[self]._record(message)

    def _post_event(self, event: Event) -> None:
        _PROBES[self]._record(event)


class ExpectationFailed(AssertionError):
    """A probe expectation was not met; the message lists what did arrive."""


def describe(item: Received) -> str:
    """One line for ``item``, as failures print it."""
    if isinstance(item, Message):
        call = " (call)" if item.reply_to is not None else ""
        return f"message topic={item.topic!r} payload={item.payload!r} from={item.sender}{call}"
    return f"event {item!r}"


def _topic_ok(pattern: str | None, topic: str) -> bool:
    return pattern is None or topic == pattern or fnmatch.fnmatchcase(topic, pattern)


def _payload_ok(match: Match | None, payload: object) -> bool:
    if match is None:
        return True
    if callable(match):
        return bool(match(payload))
    return bool(payload == match)


def _wanted(topic: str | None, match: Match | None) -> str:
    parts = [f"topic={topic!r}" if topic is not None else "any topic"]
    if match is not None:
        parts.append(f"match={getattr(match, '__name__', repr(match))}")
    return "a message with " + " ".join(parts)


@final
class Probe:
    """A recording test process. Make one with ``TestNode.probe()``.

    Args:
        node: The node to spawn the probe on.
        name: Register the probe under this name.

    Attributes:
        pid (PID): The probe's process; send to it, monitor it, pass it to the code under test.
        history (list): Everything that ever arrived, in order (``receive_all`` does not clear it).
    """

    def __init__(self, node: Node, *, name: str | None = None) -> None:
        self._node = node
        self._queue: deque[Received] = deque()
        self.history: list[Received] = []
        self._arrived = trio.Event()
        self._stop = trio.Event()
        self._monitoring: set[PID] = set()
        # Peers the probe sent to or called, and how each one ended: an expectation that fails
        # says why a peer died instead of only "nothing arrived".
        self._peers: set[PID] = set()
        self._peer_exits: dict[PID, Exit] = {}
        self.pid = node.spawn(self._main, name=name)
        proc = self._proc = node._resolve(self.pid)
        _PROBES[proc] = self
        proc.on_exit(lambda: _forget(_PROBES, proc))
        proc.on_exit(node.watch_exits(self._peer_exited))
        proc.__class__ = _Recording

    def __repr__(self) -> str:
        return f"<Probe {self.pid} queued={len(self._queue)}>"

    async def _main(self, proc: Process) -> None:
        await self._stop.wait()  # a Cancel ends the probe; terminate and kill work as usual

    def _record(self, item: Received) -> None:
        self._queue.append(item)
        self.history.append(item)
        self._arrived.set()
        self._arrived = trio.Event()
        if isinstance(item, Cancel):
            self._stop.set()

    @property
    def proc(self) -> Process:
        """The probe's process handle (send, call, link and monitor as the probe)."""
        return self._proc

    # -- acting as the probe -----------------------------------------------------------

    def send(self, dest: PID | str, topic: str, payload: object = None) -> None:
        """Send ``payload`` on ``topic`` to ``dest`` with the probe as sender.

        Args:
            dest: A PID, its printed form, or a registered name.
            topic: The message's topic.
            payload: The message's payload.

        Raises:
            ProcessNotFound: If ``dest`` is not a live process.
        """
        self._note_peer(dest)
        self.proc.send(dest, topic, payload)

    async def call(
        self, dest: PID | str, topic: str, payload: object = None, *, timeout: float = 5.0
    ) -> Any:
        """Call ``dest`` as the probe and return the reply.

        Args:
            dest: A PID, its printed form, or a registered name.
            topic: The request's topic.
            payload: The request's payload.
            timeout: Seconds to wait for the reply (> 0).

        Raises:
            ProcessNotFound: If ``dest`` is not a live process.
            CallTimeout: If no reply came in time.
            CallFailed: If the target exited first or replied with an error.
        """
        self._note_peer(dest)
        return await self.proc.call(dest, topic, payload, timeout=timeout)

    def _note_peer(self, dest: PID | str) -> None:
        try:
            pid = dest if isinstance(dest, PID) else self._node._resolve(dest).pid
        except Exception:  # a dead or remote peer: the send itself says so
            return
        self._peers.add(pid)

    def _peer_exited(self, exit: Exit) -> None:
        if exit.pid in self._peers:
            self._peer_exits[exit.pid] = exit

    def reply(self, message: Message, value: object = None) -> bool:
        """Answer a ``call`` the probe received.

        Args:
            message: A request the probe received (from ``expect_message``).
            value: What the caller's ``call`` returns.

        Returns:
            bool: False when the caller stopped waiting; the reply is then discarded.

        Raises:
            ValueError: If ``message`` was not sent with ``call``.
        """
        return self.proc.reply(message, value)

    def monitor(self, dest: PID | str) -> None:
        """Monitor ``dest``: its ``Exit`` arrives at the probe (see ``expect_exit``).

        Args:
            dest: A PID, its printed form, or a registered name.
        """
        self.proc.monitor(dest)
        self._monitoring.add(dest if isinstance(dest, PID) else self._node._resolve(dest).pid)

    def link(self, dest: PID | str) -> None:
        """Link the probe to ``dest``; the probe traps links, so ``LinkDown`` is recorded.

        Args:
            dest: A PID, its printed form, or a registered name.
        """
        self.proc.trap_links = True
        self.proc.link(dest)

    # -- reading the record ----------------------------------------------------------

    def receive_all(self) -> list[Received]:
        """Return and clear everything received and not yet expected."""
        items = list(self._queue)
        self._queue.clear()
        return items

    async def _next(self, deadline: float) -> Received | None:
        while not self._queue:
            with trio.move_on_at(deadline):
                await self._arrived.wait()
            if not self._queue and trio.current_time() >= deadline:
                return None
        return self._queue.popleft()

    def _fail(self, wanted: str, within: float, got: str) -> ExpectationFailed:
        lines = [f"probe {self.pid}: expected {wanted} within {within:g}s; {got}"]
        shown = self.history[-_SHOWN:]
        if shown:
            lines.append(f"arrived so far ({len(self.history)}, last {len(shown)} shown):")
            lines.extend(f"  {describe(item)}" for item in shown)
        else:
            lines.append("nothing has arrived at this probe")
        for exit in self._peer_exits.values():
            why = f"error={exit.error!r}" if exit.error is not None else f"result={exit.result!r}"
            lines.append(
                f"peer {exit.pid} (sent to by this probe) exited: reason={exit.reason.value} {why}"
            )
        return ExpectationFailed("\n".join(lines))

    async def expect_message(
        self, topic: str | None = None, *, match: Match | None = None, within: float = 1.0
    ) -> Message:
        """Wait for the next item and require a message on ``topic`` whose payload matches.

        Args:
            topic (str | None): An exact topic or a glob (``"job.*"``); None for any topic.
            match: A predicate on the payload, or a value it must equal.
            within (float): Seconds on trio's clock to wait for it.

        Returns:
            Message: The message (answer a ``call`` with ``probe.reply``).

        Raises:
            ExpectationFailed: If nothing arrived in time, or the next item differs.
        """
        wanted = _wanted(topic, match)
        item = await self._next(trio.current_time() + within)
        if item is None:
            raise self._fail(wanted, within, "nothing arrived")
        if (
            not isinstance(item, Message)
            or not _topic_ok(topic, item.topic)
            or not _payload_ok(match, item.payload)
        ):
            raise self._fail(wanted, within, f"the next item was {describe(item)}")
        return item

    async def expect_no_message(self, *, within: float = 0.1) -> None:
        """Require that nothing (no message, no event) arrives for ``within`` seconds.

        Args:
            within: Seconds on trio's clock to watch.

        Raises:
            ExpectationFailed: If something is already queued or arrives in time.
        """
        item = await self._next(trio.current_time() + within)
        if item is not None:
            raise self._fail("no message", within, f"got {describe(item)}")

    async def expect_exit(
        self, pid: PID, *, reason: ExitReason | str | None = None, within: float = 1.0
    ) -> Exit:
        """Wait for ``pid``'s ``Exit`` (monitoring it now if the probe does not yet).

        Monitor before you cause the exit (``probe.monitor(pid)``) when it may happen at once;
        monitoring a process that has already ended gives an ``Exit`` with ``NoProc``.

        Args:
            pid (PID): The process expected to end.
            reason (ExitReason | str | None): ``"normal"``, ``"shutdown"`` or ``"error"``.
            within (float): Seconds to wait.

        Raises:
            ExpectationFailed: If it did not end in time or ended for another reason.
        """
        want = ExitReason(reason) if reason is not None else None
        if pid not in self._monitoring:
            self.monitor(pid)
        wanted = f"the exit of {pid}" + (f" with reason {want.value}" if want else "")

        def is_exit(item: Received) -> bool:
            return isinstance(item, Exit) and item.pid == pid

        found = await self._fish(is_exit, trio.current_time() + within, drop_skipped=False)
        if not isinstance(found, Exit):
            raise self._fail(wanted, within, "it did not come")
        if want is not None and found.reason is not want:
            raise self._fail(wanted, within, f"it ended with {found.reason.value}: {found.error!r}")
        return found

    async def fish_for(
        self,
        topic: str | None = None,
        *,
        match: Match | None = None,
        within: float = 1.0,
    ) -> Message:
        """Skip items until a message on ``topic`` matching ``match`` arrives, and return it.

        Skipped items are dropped from the queue (they stay in ``history``).

        Args:
            topic: An exact topic or a glob; None for any topic.
            match: A predicate on the payload, or a value it must equal; None for any payload.
            within: Seconds on trio's clock to wait for it.

        Raises:
            ExpectationFailed: If no such message arrived within ``within`` seconds.
        """

        def wanted_item(item: Received) -> bool:
            return (
                isinstance(item, Message)
                and _topic_ok(topic, item.topic)
                and _payload_ok(match, item.payload)
            )

        found = await self._fish(wanted_item, trio.current_time() + within)
        if not isinstance(found, Message):
            raise self._fail(_wanted(topic, match), within, "none came")
        return found

    async def _fish(
        self, wanted: Callable[[Received], bool], deadline: float, *, drop_skipped: bool = True
    ) -> Received | None:
        while True:
            for index, item in enumerate(self._queue):
                if wanted(item):
                    if drop_skipped:
                        for _ in range(index):
                            self._queue.popleft()
                    del self._queue[0 if drop_skipped else index]
                    return item
            if drop_skipped:
                self._queue.clear()
            if trio.current_time() >= deadline:
                return None
            with trio.move_on_at(deadline):
                await self._arrived.wait()
