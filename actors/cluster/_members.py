"""Membership events: who is told when a node comes up or goes down.

``group.monitor_nodes(proc)`` posts every ``NodeUp``/``NodeDown`` on ``proc.events`` (Erlang's
``net_kernel:monitor_nodes``); ``group.monitor_node(proc, node)`` posts one ``NodeDown`` when
that node goes down, at once if it is not connected (Erlang's ``monitor_node``). Each
subscription ends with its process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from ._transport import NodeDown, NodeDownReason, NodeUp

if TYPE_CHECKING:
    from .._core._process import Process

__all__ = ["NodeWatchers"]


class NodeWatchers:
    """The subscriptions to node events of one node group."""

    def __init__(self) -> None:
        self._every: set[Process] = set()
        self._one: dict[str, set[Process]] = {}
        self._tracked: set[Process] = set()

    def __len__(self) -> int:
        return len(self._every) + sum(len(procs) for procs in self._one.values())

    def monitor_nodes(self, proc: Process) -> None:
        """Post every ``NodeUp``/``NodeDown`` to ``proc`` from now on.

        Args:
            proc (Process): The subscriber (until it exits).
        """
        self._track(proc)
        self._every.add(proc)

    def demonitor_nodes(self, proc: Process) -> None:
        """Undo ``monitor_nodes``.

        Args:
            proc (Process): The subscriber.
        """
        self._every.discard(proc)

    def monitor_node(self, proc: Process, node: str, connected: bool, now: float) -> None:
        """Post one ``NodeDown`` to ``proc`` when ``node`` goes down (at once if not connected).

        Args:
            proc (Process): The subscriber.
            node (str): The peer node to watch.
            connected (bool): Whether ``node`` is connected now.
            now (float): ``trio.current_time()``, for an immediate ``NodeDown``.
        """
        if not connected:
            why = "not connected"
            _post(proc, NodeDown(node, why, now, NodeDownReason.CONNECTION_LOST))
            return
        self._track(proc)
        self._one.setdefault(node, set()).add(proc)

    def demonitor_node(self, proc: Process, node: str) -> None:
        """Undo ``monitor_node``.

        Args:
            proc (Process): The subscriber.
            node (str): The node it watched.
        """
        procs = self._one.get(node)
        if procs is not None:
            procs.discard(proc)
            if not procs:
                del self._one[node]

    def notify(self, event: NodeUp | NodeDown) -> None:
        """Post ``event`` to its subscribers (a ``NodeDown`` ends ``monitor_node`` ones).

        Args:
            event (NodeUp | NodeDown): What happened.
        """
        for proc in list(self._every):
            _post(proc, event)
        if isinstance(event, NodeDown):
            for proc in self._one.pop(event.node, ()):
                if proc not in self._every:  # one event per process
                    _post(proc, event)

    def _track(self, proc: Process) -> None:
        if proc not in self._tracked:
            self._tracked.add(proc)
            proc.on_exit(lambda: self._forget(proc))

    def _forget(self, proc: Process) -> None:
        self._tracked.discard(proc)
        self._every.discard(proc)
        for node in [node for node, procs in self._one.items() if proc in procs]:
            self.demonitor_node(proc, node)


def _post(proc: Process, event: NodeUp | NodeDown) -> None:
    proc.events._put(cast("Any", event))
