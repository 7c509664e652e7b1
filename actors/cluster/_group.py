"""The node group: location-transparent PIDs over a transport.

``open_node_group(node, transport)`` connects a named node to its peers. From
then on the kernel hands every PID of another node (and every ``"name@node"``)
to this group, which turns sends, calls, monitors, links, cancels and
terminates into frames (``_wire.py``); ``_serve.py`` handles the frames that
arrive and the loss of a peer.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable
from typing import Any, cast

import trio

from .._core._exceptions import ProcessNotFound
from .._core._messages import Exit, Message, ReplySlot
from .._core._node import Node
from .._core._pid import PID
from .._core._process import Process
from . import _serve, _wire
from ._exports import Exports, ProcessFn
from ._global import GlobalNames
from ._links import Links
from ._losses import Losses
from ._members import NodeWatchers
from ._remote import GroupStatistics, RemoteError, RemoteProcess, _Watch
from ._spanning import GroupScope
from ._transport import NoConnection, NodeDown, NodeDownReason, NodeUp, Transport

__all__ = ["NodeGroup"]

logger = logging.getLogger("actors.cluster")


class NodeGroup(Links):
    """This node's view of its peers and group-wide ``names``. Made by :func:`open_node_group`.

    Args:
        node (Node): The local node; it must have a name, the transport's node name.
        transport (Transport): Carries the frames to and from the peers.
        exports (Iterable[str | ProcessFn]): What peers may spawn here (``Exports``).

    Raises:
        ValueError: If the node's name is not the transport's.
    """

    def __init__(
        self, node: Node, transport: Transport, exports: Iterable[str | ProcessFn] = ()
    ) -> None:
        if node.name is None or node.name != transport.node:
            raise ValueError(
                f"the node's name ({node.name!r}) must be the transport's ({transport.node!r})"
            )
        self.node = node
        self.name: str = node.name
        self.transport = transport
        self.exports = Exports(node.name, exports)
        """What peers may spawn here (``exports.add``, ``exports.add_resolver``)."""
        self.incarnation = 0
        """This run's incarnation (set by ``open_node_group``); peers learn it as they meet."""
        self._incarnations: dict[str, int] = {}  # peer -> its incarnation, from its Sync
        self.names: GlobalNames = GlobalNames(self)
        self._scope: GroupScope = GroupScope(self)
        self._refs = itertools.count(1)
        self._calls: dict[int, tuple[str, ReplySlot]] = {}
        self._watches: dict[int, _Watch] = {}
        self._watch_keys: dict[tuple[Process, PID], int] = {}
        self._by_watcher: dict[Process, set[int]] = {}
        # Monitors other nodes hold on our processes: (peer, ref) -> (process, hook).
        self._served: dict[tuple[str, int], tuple[Process, Callable[[Exit], None]]] = {}
        # Links across nodes, both directions: local process -> remote PIDs.
        self._links: dict[Process, set[PID]] = {}
        self._requests: dict[int, tuple[str, trio.Event, list[Any]]] = {}
        self._spawning: dict[int, tuple[Process | None, Process | None]] = {}
        self._node_watchers = NodeWatchers()
        self._sent = 0
        self._received = 0
        self._dropped = 0
        self._unsent = 0
        self._losses = Losses(node.name, lambda peer, frame: _serve.try_send(self, peer, frame))

    def __repr__(self) -> str:
        return f"<NodeGroup {self.name} peers={sorted(self.transport.peers())}>"

    # -- public API ---------------------------------------------------------------

    def nodes(self) -> list[str]:
        """The connected peer nodes, sorted."""
        return sorted(self.transport.peers())

    def members(self) -> list[str]:
        """The live members of the group as this node sees them: itself and its peers, sorted."""
        return sorted({self.name, *self.transport.peers()})

    def monitor_nodes(self, proc: Process) -> None:
        """Post every ``NodeUp``/``NodeDown`` on ``proc.events`` from now on (until it exits).

        Args:
            proc (Process): The local process to post them to.
        """
        self._node_watchers.monitor_nodes(proc)

    def demonitor_nodes(self, proc: Process) -> None:
        """Undo ``monitor_nodes``.

        Args:
            proc (Process): A process given to ``monitor_nodes``.
        """
        self._node_watchers.demonitor_nodes(proc)

    def monitor_node(self, proc: Process, node: str) -> None:
        """Post one ``NodeDown`` on ``proc.events`` when ``node`` goes down.

        At once (reason ``connection_lost``, why ``not connected``) if it is not connected
        now; never for this node's own name. Ends with ``proc``, or ``demonitor_node``.

        Args:
            proc (Process): The local process to post it to.
            node (str): The peer node to watch.
        """
        if node != self.name:
            connected = node in self.transport.peers()
            self._node_watchers.monitor_node(proc, node, connected, trio.current_time())

    def demonitor_node(self, proc: Process, node: str) -> None:
        """Undo ``monitor_node`` (no ``NodeDown`` for it will be posted).

        Args:
            proc (Process): A process given to ``monitor_node``.
            node (str): The node it watched.
        """
        self._node_watchers.demonitor_node(proc, node)

    async def spawn(
        self,
        node: str,
        function: str,
        *args: object,
        host: str | None = None,
        name: str | None = None,
        link: Process | None = None,
        monitor: Process | None = None,
        timeout: float = 5.0,
    ) -> PID:
        """Start the async function ``"module:qualname"`` on ``node`` and return its PID.

        ``link``/``monitor`` are set up on the other node before the child runs,
        so no exit is missed. ``function`` must be exported by ``node`` (its
        ``group.exports``: e.g. a registry ``process`` entry id under ``actors
        run``); on this node's own name any importable async function may be named.

        Args:
            node (str): The node to start it on (this node's own name spawns here).
            function (str): ``"module:qualname"``, or the name ``node`` exports it under.
            *args (object): Its arguments after ``proc``; plain data (see ``PayloadError``).
            host (str | None): The host (process group) on ``node``; default: its main host.
            name (str | None): A name to register the child under on ``node``.
            link (Process | None): A local process to link to the child.
            monitor (Process | None): A local process to monitor the child.
            timeout (float): Seconds to wait for the other node's answer.

        Returns:
            The child's PID.

        Raises:
            NoConnection: If ``node`` is not connected (or is lost meanwhile).
            PayloadError: If an argument cannot be encoded.
            RemoteError: If the other node could not start it (not exported, bad args...).
            CallTimeout: If no answer came within ``timeout`` seconds.
        """
        if node == self.name:
            return _serve.spawn_here(self, function, list(args), host, name, link, monitor)
        wire_args = cast("list[Any]", _wire.encode_payload_check(list(args), "spawn arguments"))
        ref = next(self._refs)
        if monitor is not None:
            self._watches[ref] = _Watch(node, None, monitor, None)
        # Completed when Spawned arrives (in frame order, before any Down or LinkExit of it).
        self._spawning[ref] = (link, monitor)
        watcher = None if monitor is None else monitor.pid
        linker = None if link is None else link.pid
        frame = _wire.Spawn(ref, function, wire_args, host, name, watcher, linker)
        try:
            answer = await self._request(node, ref, frame, timeout, f"spawn {function}")
        except BaseException:
            self._spawning.pop(ref, None)
            self._watches.pop(ref, None)
            raise
        pid, error = answer
        if pid is None:
            self._watches.pop(ref, None)
            raise RemoteError(node, error)
        return cast("PID", pid)

    def _spawned(self, ref: int, pid: PID) -> None:
        """Complete the monitor and link of a remote spawn (called as Spawned arrives)."""
        link, monitor = self._spawning.pop(ref, (None, None))
        if monitor is not None and ref in self._watches:
            self._watches[ref].target = pid
            self._watch_keys[(monitor, pid)] = ref
            self._track(monitor, ref)
        if link is not None:
            if self.node._procs.get(link.pid.seq) is link:
                self._add_link(link, pid)
            else:  # the linker died meanwhile: the child gets LinkDown(noproc), as in Erlang
                assert pid.node is not None
                _serve.try_send(self, pid.node, _wire.LinkExit(link.pid, pid, "error", noproc=True))

    async def whereis(self, name: str, node: str, *, timeout: float = 5.0) -> PID | None:
        """Return the PID registered under ``name`` on ``node`` (None if none).

        Args:
            name (str): The registered name.
            node (str): The node to ask (this node's own name: a local lookup).
            timeout (float): Seconds to wait for the other node's answer.

        Raises:
            NoConnection: If ``node`` is not connected (or is lost meanwhile).
            CallTimeout: If no answer came within ``timeout`` seconds.
        """
        if node == self.name:
            return self.node.lookup(name)
        ref = next(self._refs)
        answer = await self._request(node, ref, _wire.Lookup(ref, name), timeout, "lookup")
        return cast("PID | None", answer[0])

    def statistics(self) -> GroupStatistics:
        """Counters: frames sent, received, dropped and unsent; watches, links, calls in flight;
        messages lost here and losses reported here."""
        return GroupStatistics(
            peers=tuple(self.nodes()),
            frames_sent=self._sent,
            frames_received=self._received,
            frames_dropped=self._dropped,
            watches=len(self._watches),
            served_watches=len(self._served),
            remote_links=sum(len(v) for v in self._links.values()),
            pending_calls=len(self._calls),
            frames_unsent=self._unsent,
            messages_undelivered=self._losses.undelivered,
            undelivered_reported=self._losses.reported,
        )

    # -- called by the kernel (through RemoteProcess) ---------------------------------

    def resolve(self, pid: PID) -> RemoteProcess:
        """The remote process ``pid`` names (the kernel asks after a local lookup fails).

        Args:
            pid (PID): A PID of another node.

        Returns:
            A stand-in that turns the kernel's operations on it into frames.

        Raises:
            ProcessNotFound: If ``pid`` is local or of no node of the group.
        """
        node = pid.node
        if node is None or node == self.name:
            raise ProcessNotFound(pid)
        return RemoteProcess(self, pid, node)

    def resolve_name(self, dest: str) -> RemoteProcess:
        """The process ``"name@node"`` (resolved there at send time) or ``"name@*"`` (here) names.

        Args:
            dest (str): ``"name@node"`` of another node, or ``"name@*"`` (a group-wide name).

        Returns:
            A stand-in whose sends name the process (the other node resolves ``name@node``), or
            the holder of the group-wide name (local or remote).

        Raises:
            ProcessNotFound: If ``dest`` is not ``name@node`` of another node (or ``name@*``).
        """
        name, at, node = dest.rpartition("@")
        if node == "*" and name:
            return self.names._resolve(dest, name)  # type: ignore[return-value]
        if not at or not name or not node or node == self.name:
            raise ProcessNotFound(dest)
        return RemoteProcess(self, dest, node)

    def _send(self, target: RemoteProcess, message: Message) -> None:
        payload = _wire.encode_payload_check(message.payload)
        slot = message.reply_to
        call = 0 if slot is None else next(self._refs)
        pid = target.pid
        frame: _wire.Frame
        if type(pid) is PID:
            frame = _wire.Send(pid, message.topic, payload, message.sender, call)
        else:
            name = pid.rpartition("@")[0]
            frame = _wire.SendName(name, message.topic, payload, message.sender, call)
        self._transmit(target.node_name, frame)
        if slot is not None:
            self._calls[call] = (target.node_name, slot)
            # Forget the call when the caller stops waiting (it removes its exit hook).
            slot_hook = slot.target_exited
            ref = target._hooks.get(slot_hook) if target._hooks else None
            if ref is not None:
                self._watches[ref].target = (pid, call)

    async def _request(
        self, node: str, ref: int, frame: _wire.Frame, timeout: float, what: str
    ) -> list[Any]:
        done = trio.Event()
        box: list[Any] = []
        self._requests[ref] = (node, done, box)
        try:
            self._transmit(node, frame)
            with trio.move_on_after(timeout):
                await done.wait()
        finally:
            self._requests.pop(ref, None)
        if not done.is_set():
            from .._core._exceptions import CallTimeout

            raise CallTimeout(node, what, timeout)
        if box and isinstance(box[0], NoConnection):
            raise box[0]
        return box

    # -- the transport's callbacks (FrameHandler), served by _serve.py ---------------------

    def frame_received(self, peer: str, data: bytes) -> None:
        """Handle a frame from ``peer`` (called by the transport; undecodable ones are dropped
        and counted).

        Args:
            peer (str): The node that sent it.
            data (bytes): The frame.
        """
        _serve.frame_received(self, peer, data)

    def peer_up(self, peer: str) -> None:
        """``peer`` is connected (called by the transport): ``NodeUp`` to subscribers.

        Args:
            peer (str): The node now connected.
        """
        _serve.peer_up(self, peer)

    def peer_down(
        self, peer: str, why: str, reason: NodeDownReason = NodeDownReason.CONNECTION_LOST
    ) -> None:
        """``peer`` is lost (called by the transport): ``noconnection`` to every monitor and
        link of its processes, failed calls, ``NodeDown`` with ``reason`` to subscribers.

        Args:
            peer (str): The node lost.
            why (str): What happened (the ``NodeDown.why``, the ``NoConnection`` text).
            reason (NodeDownReason): Left, lease expired or connection lost.
        """
        _serve.peer_down(self, peer, why, reason)

    def _reply(
        self, peer: str, call: int, ok: bool, value: Any, why: str, cause: BaseException | None
    ) -> bool:
        return _serve.reply(self, peer, call, ok, value, why, cause)

    def _notify_nodes(self, event: NodeUp | NodeDown) -> None:
        self._node_watchers.notify(event)
