"""Losses the sender is told of: a plain ``send`` that another node could not deliver.

A ``send`` to a process of another node is checked there, when its frame arrives. When the
process is gone (or no process has that name there), or its bounded mailbox refuses the
message (overflow ``raise``), the message is lost and the sending process gets an
:class:`Undelivered` event on ``proc.events``: the asynchronous form of the
``ProcessNotFound``/``MailboxFull`` a local send raises (Akka's dead letters, told to the
sender). A ``call`` fails instead (``ProcessNotFound``/``CallFailed``).

No storms, and the sender never blocks. The receiving node reports the first loss of a
sender at once and sums the next ones into one report every :data:`UNDELIVERED_WINDOW`
seconds while they go on; the sending node keeps at most one ``Undelivered`` queued per
process, adding the counts of later reports into it.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
import trio

from .._core._pid import PID
from . import _wire

if TYPE_CHECKING:
    from .._core._process import Process

__all__ = ["Losses", "Undelivered", "UndeliveredReason"]

logger = logging.getLogger("actors.cluster")

UNDELIVERED_WINDOW = 0.1
"""Seconds over which the losses of one sender after its first are summed into one report."""


class UndeliveredReason(enum.Enum):
    """Why a message sent to another node's process was not delivered (``Undelivered.reason``)."""

    NOPROC = "noproc"
    """No live process there has that PID (it exited) or that registered name."""
    MAILBOX_FULL = "mailbox_full"
    """Its bounded mailbox (overflow ``raise``) refused the message."""
    REFUSED = "refused"
    """The delivery failed otherwise; ``why`` says how."""


@attrs.frozen
class Undelivered:
    """Posted on ``proc.events`` of a process whose plain ``send`` another node did not deliver.

    One event may stand for several lost messages (``count``); ``dest``, ``topic``,
    ``reason`` and ``why`` describe the latest of them.
    """

    dest: PID | str
    """The destination as addressed: a PID, or ``"name@node"``."""
    topic: str
    """The topic of the (latest) lost message."""
    reason: UndeliveredReason
    """Why it was not delivered: no such process, a full mailbox, or refused otherwise."""
    why: str = ""
    """The receiving node's words, e.g. ``mailbox of <0.5@b> is full (10 messages)``."""
    node: str = ""
    """The node that could not deliver it."""
    count: int = 1
    """How many lost messages this event reports (at least 1)."""
    at: float = 0.0
    """``trio.current_time()`` on this node when the (latest) report arrived."""


@attrs.define(eq=False)
class _Report:
    """The losses of one sender still to report (receiving side)."""

    due: float
    count: int = 0
    dest: PID | str = ""
    topic: str = ""
    reason: str = ""
    why: str = ""


class Losses:
    """Both halves of the ``Undelivered`` reports of one node group."""

    def __init__(self, node: str, send: Callable[[str, _wire.Frame], object]) -> None:
        self._node = node
        self._send = send  # sends a frame if the peer is connected (else counts it)
        self._open: dict[tuple[str, PID | None], _Report] = {}
        self._wake = trio.Event()
        self._queued: dict[Process, Undelivered] = {}
        self.undelivered = 0
        """Plain sends from peers this node could not deliver."""
        self.reported = 0
        """``Undelivered`` reports this node received for its own processes."""

    # -- the receiving node: a send from ``peer`` was not delivered --------------------

    def lost(
        self,
        peer: str,
        frame: _wire.Send | _wire.SendName,
        reason: UndeliveredReason,
        why: str,
    ) -> None:
        """Count a lost send and report it to its sender (now, or with the next ones).

        Args:
            peer (str): The node the send came from.
            frame (Send | SendName): The send's frame.
            reason (UndeliveredReason): Why it was not delivered.
            why (str): The error's text (empty for noproc).
        """
        self.undelivered += 1
        dest: PID | str = frame.to if isinstance(frame, _wire.Send) else frame.name
        key = (peer, frame.sender)
        report = self._open.get(key)
        if report is not None:
            report.count += 1
            report.dest, report.topic, report.reason, report.why = (
                dest,
                frame.topic,
                reason.value,
                why,
            )
            return
        self._open[key] = _Report(trio.current_time() + UNDELIVERED_WINDOW)
        self._wake.set()
        self._report(peer, frame.sender, dest, frame.topic, reason.value, why, 1)

    def _report(
        self, peer: str, sender: PID | None, dest: Any, topic: str, reason: str, why: str, n: int
    ) -> None:
        level = logging.INFO if reason == UndeliveredReason.NOPROC.value else logging.WARNING
        logger.log(
            level,
            "message undelivered node=%s peer=%s from=%s to=%s topic=%s reason=%s count=%d%s",
            self._node,
            peer,
            sender,
            dest,
            topic,
            reason,
            n,
            f" why={why}" if why else "",
        )
        if sender is None:  # sent from outside any process: nobody to tell
            return
        if isinstance(dest, str):
            dest = f"{dest}@{self._node}"
        self._send(peer, _wire.NotDelivered(sender, dest, topic, reason, why[:2000], n))

    async def run(self) -> None:
        """Send the summed reports as their windows end (runs while the group is open)."""
        while True:
            if not self._open:
                self._wake = trio.Event()
                await self._wake.wait()
                continue
            await trio.sleep_until(min(report.due for report in self._open.values()))
            now = trio.current_time()
            for key, report in list(self._open.items()):
                if report.due > now:
                    continue
                if not report.count:  # a quiet window: the next loss is reported at once
                    del self._open[key]
                    continue
                peer, sender = key
                count, report.count, report.due = report.count, 0, now + UNDELIVERED_WINDOW
                self._report(
                    peer, sender, report.dest, report.topic, report.reason, report.why, count
                )

    # -- the sending node: a report arrived --------------------------------------------

    def reported_to(self, proc: Process, peer: str, frame: _wire.NotDelivered) -> None:
        """Post ``Undelivered`` to ``proc``, merged into the one it has not received yet.

        Args:
            proc (Process): The local sender the report is for.
            peer (str): The node that reported it.
            frame (NotDelivered): The report.

        Raises:
            ValueError: If the report's reason is unknown (a bad frame).
        """
        reason = UndeliveredReason(frame.reason)  # ValueError: a bad frame, dropped
        self.reported += 1
        count = frame.count
        old = self._queued.get(proc)
        if old is None:
            proc.on_exit(lambda: self._forget(proc))
        elif proc.events._remove_if(lambda event: event is old):
            count += old.count  # still queued: one event for both
        event = Undelivered(
            frame.dest,
            frame.topic,
            reason,
            frame.why,
            peer,
            count,
            trio.current_time(),
        )
        self._queued[proc] = event
        proc.events._put(event)  # type: ignore[arg-type]

    def _forget(self, proc: Process) -> None:
        self._queued.pop(proc, None)
