"""Monitors and links across nodes: the half of the node group the kernel drives.

``RemoteProcess`` turns ``monitor``/``link``/``cancel``/``terminate`` (and a call's exit
hook) on another node's process into these methods of the node group (:class:`Links` is a
base class of ``NodeGroup``). Each watch and link is kept until its ``Down``/``LinkExit``
arrives, its process exits, or the peer is lost (``_serve.peer_down`` fires them all with
``noconnection``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import trio

from .._core._messages import Cancel, Exit, ExitReason, LinkDown, ReplySlot
from .._core._pid import PID
from . import _serve, _wire
from ._remote import RemoteProcess, _Watch, describe
from ._transport import NoConnection, Transport

logger = logging.getLogger("actors.cluster")

if TYPE_CHECKING:
    from .._core._node import Node
    from .._core._process import Process

__all__ = ["Links"]


class Links:
    """Watches and links on other nodes' processes (a base class of ``NodeGroup``)."""

    node: Node
    name: str
    transport: Transport
    _refs: Iterator[int]
    _calls: dict[int, tuple[str, ReplySlot]]
    _watches: dict[int, _Watch]
    _watch_keys: dict[tuple[Process, PID], int]
    _by_watcher: dict[Process, set[int]]
    _links: dict[Process, set[PID]]
    _sent: int
    _unsent: int

    def _transmit(self, peer: str, frame: _wire.Frame) -> None:
        self.transport.send(peer, _wire.encode(frame))
        self._sent += 1

    def _broadcast(self, frame: _wire.Frame) -> None:
        """Send ``frame`` to every connected peer, encoded once; a peer lost meanwhile is
        skipped, and a frame too large for the transport is logged, not raised."""
        data = _wire.encode(frame)
        for peer in self.transport.peers():
            try:
                self.transport.send(peer, data)
            except NoConnection:
                continue
            except ValueError as error:  # larger than the transport's max_frame
                logger.warning("frame not sent peer=%s frame=%.80r error=%s", peer, frame, error)
                continue
            self._sent += 1

    def _watch(
        self,
        target: RemoteProcess,
        watcher: Process | None,
        hook: Callable[[Exit], None] | None,
        *,
        node_only: bool = False,
    ) -> int:
        pid = target.pid
        if watcher is not None:
            if type(pid) is not PID:
                raise ValueError(f"monitor a remote process by PID, not by name: {pid!r}")
            known = self._watch_keys.get((watcher, pid))
            if known is not None:
                return known
        ref = next(self._refs)
        self._watches[ref] = _Watch(target.node_name, pid, watcher, hook, node_only)
        if watcher is not None:
            self._watch_keys[(watcher, pid)] = ref
            self._track(watcher, ref)
        if node_only:
            if target.node_name not in self.transport.peers():
                self._watch_down(ref, "not connected")
            return ref
        if type(pid) is not PID:
            raise ValueError(f"wait for a remote process by PID, not by name: {pid!r}")
        try:
            self._transmit(target.node_name, _wire.Watch(ref, pid))
        except NoConnection as error:  # its message already names the node: keep the error
            self._watch_down(ref, str(error), error)
        return ref

    def _track(self, watcher: Process, ref: int) -> None:
        refs = self._by_watcher.get(watcher)
        if refs is None:  # one exit callback per watcher: a dead watcher needs no Down
            refs = self._by_watcher[watcher] = set()
            watcher.on_exit(lambda: self._watcher_exited(watcher))
        refs.add(ref)

    def _watcher_exited(self, watcher: Process) -> None:
        for ref in self._by_watcher.pop(watcher, ()):
            self._unwatch(ref)

    def _forget(self, ref: int, watch: _Watch, target: Any) -> None:
        """Drop the bookkeeping of a watch that is over (fired or removed)."""
        if watch.watcher is not None:
            self._watch_keys.pop((watch.watcher, target), None)
            refs = self._by_watcher.get(watch.watcher)
            if refs is not None:
                refs.discard(ref)

    def _unwatch(self, ref: int) -> None:
        watch = self._watches.pop(ref, None)
        if watch is None:
            return
        if watch.node_only:
            if type(watch.target) is tuple:  # (target, call id): the call is over
                self._calls.pop(watch.target[1], None)
            return
        self._forget(ref, watch, watch.target)
        _serve.try_send(self, watch.peer, _wire.Unwatch(ref))

    def _demonitor(self, target: RemoteProcess, watcher: Process) -> None:
        ref = self._watch_keys.get((watcher, target.pid))
        if ref is not None:
            self._unwatch(ref)

    def _watch_down(self, ref: int, why: str, error: NoConnection | None = None) -> None:
        """Fire watch ``ref`` with reason ``noconnection`` (``error``, else one made of ``why``)."""
        watch = self._watches.pop(ref, None)
        if watch is None:
            return
        target = watch.target[0] if type(watch.target) is tuple else watch.target
        self._forget(ref, watch, target)
        if error is None:
            error = NoConnection(watch.peer, why)
        self._fire(watch, Exit(target, ExitReason.NOCONNECTION, None, error, trio.current_time()))

    def _fire(self, watch: _Watch, exit: Exit) -> None:
        watcher = watch.watcher
        if watcher is not None and self.node._procs.get(watcher.pid.seq) is watcher:
            watcher._post_event(exit)
        if watch.hook is not None:
            watch.hook(exit)

    def _link(self, proc: Process, target: RemoteProcess) -> None:
        pid = target.pid
        if type(pid) is not PID:
            raise ValueError(f"link to a remote process by PID, not by name: {pid!r}")
        try:
            self._transmit(target.node_name, _wire.Link(proc.pid, pid))
        except NoConnection as error:
            event = LinkDown(pid, ExitReason.NOCONNECTION, error, trio.current_time())
            from .._core._lifecycle import link_down

            link_down(proc, event)
            return
        self._add_link(proc, pid)

    def _unlink(self, proc: Process, target: RemoteProcess) -> None:
        pids = self._links.get(proc)
        if pids is None or target.pid not in pids:
            return
        pids.discard(target.pid)
        _serve.try_send(self, target.node_name, _wire.Unlink(proc.pid, target.pid))

    def _add_link(self, proc: Process, pid: PID) -> None:
        pids = self._links.get(proc)
        if pids is None:
            pids = self._links[proc] = set()
            proc._add_exit_hook(lambda exit: self._linked_exit(proc, exit))
        pids.add(pid)

    def _linked_exit(self, proc: Process, exit: Exit) -> None:
        """A local process with remote links ended: tell its partners if it failed."""
        pids = self._links.pop(proc, None)
        if not pids or exit.error is None:
            return
        text = describe(exit.error)
        for pid in pids:
            assert pid.node is not None
            _serve.try_send(self, pid.node, _wire.LinkExit(proc.pid, pid, exit.reason.value, text))

    def _cancel(self, target: RemoteProcess, event: Cancel) -> None:
        pid = target.pid
        if type(pid) is not PID:
            raise ValueError(f"cancel a remote process by PID, not by name: {pid!r}")
        self._transmit(target.node_name, _wire.CancelReq(pid, event.sender, event.reason))

    def _terminate(self, target: RemoteProcess) -> None:
        pid = target.pid
        if type(pid) is not PID:
            raise ValueError(f"terminate a remote process by PID, not by name: {pid!r}")
        self._transmit(target.node_name, _wire.TerminateReq(pid))
