"""Stand-ins for other nodes' processes, the reply slot of a call from another node, the
records the node group keeps of them (watches, statistics).

``node._resolve`` hands a :class:`RemoteProcess` to the kernel when a PID (or a
``"name@node"``) is not local; it quacks like a ``Process`` on the paths the
kernel uses (deliver, exit hooks, cancel, terminate, monitor, link) and turns
each into a frame through the node group.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
from outcome import Error, Outcome

from .._core._messages import Cancel, Exit, Message, ReplySlot
from .._core._pid import PID

if TYPE_CHECKING:
    from .._core._process import Process
    from ._group import NodeGroup

__all__ = ["GroupStatistics", "RemoteError", "RemoteProcess", "RemoteReplySlot"]


class RemoteError(Exception):
    """An error that happened on another node, carried as text (exceptions never cross).

    The ``error`` of an ``Exit``/``LinkDown`` from a remote process that raised,
    the ``__cause__`` of a ``CallFailed`` whose remote handler raised, and what
    ``NodeGroup.spawn`` raises when the other node cannot start the function.

    Args:
        node (str): The node it happened on.
        text (str): The error there, as text (its repr).
    """

    def __init__(self, node: str, text: str) -> None:
        super().__init__(f"on node {node!r}: {text}")
        self.node = node
        self.text = text


@attrs.define(eq=False)
class _Watch:
    """One monitor (or exit hook) of a remote process, kept until its ``Down``."""

    peer: str
    target: Any
    watcher: Process | None
    hook: Callable[[Exit], None] | None
    node_only: bool = False


@attrs.frozen
class GroupStatistics:
    """A snapshot of a node group (``NodeGroup.statistics()``)."""

    peers: tuple[str, ...]
    """The connected peer nodes, sorted."""
    frames_sent: int
    """Frames this node sent to its peers."""
    frames_received: int
    """Frames this node received from its peers."""
    frames_dropped: int
    """Frames that did not decode (logged and dropped)."""
    watches: int
    """Monitors (and exit hooks) this node holds on other nodes' processes."""
    served_watches: int
    """Monitors other nodes hold on this node's processes."""
    remote_links: int
    """Links between this node's processes and other nodes' processes."""
    pending_calls: int
    """Calls from this node waiting for a reply from another node."""
    frames_unsent: int = 0
    """Frames (replies, ``Down``...) not sent because their peer was not connected (logged)."""
    messages_undelivered: int = 0
    """Plain sends from peers this node could not deliver (each reported to its sender)."""
    undelivered_reported: int = 0
    """Reports of this node's sends that another node could not deliver (``Undelivered``)."""


def describe(error: BaseException | None) -> str:
    """The text that carries ``error`` to another node (bounded).

    Args:
        error (BaseException | None): The error to describe.

    Returns:
        Its repr, cut to 2000 characters; ``""`` for None.
    """
    return "" if error is None else repr(error)[:2000]


class RemoteProcess:
    """A process on another node, as the kernel sees it for one operation.

    Args:
        group (NodeGroup): The node group that carries its operations.
        pid (PID | str): Its PID, or ``"name@node"``.
        node_name (str): The node it lives on.
    """

    __slots__ = ("_cancel_requested", "_group", "_hooks", "node_name", "pid")
    _is_remote = True

    def __init__(self, group: NodeGroup, pid: PID | str, node_name: str) -> None:
        self._group = group
        self.pid: Any = pid
        """The PID, or ``"name@node"`` for a process addressed by name."""
        self.node_name = node_name
        self._hooks: dict[Callable[[Exit], None], int] | None = None
        self._cancel_requested = False

    def __repr__(self) -> str:
        return f"<RemoteProcess {self.pid}>"

    def _deliver(self, message: Message) -> None:
        self._group._send(self, message)

    def _add_exit_hook(self, hook: Callable[[Exit], None]) -> None:
        if self._hooks is None:
            self._hooks = {}
        # A call's own slot is failed by the other node if the target exits (no watch
        # needed); only the loss of the node is watched here.
        calling = isinstance(getattr(hook, "__self__", None), ReplySlot)
        self._hooks[hook] = self._group._watch(self, None, hook, node_only=calling)

    def _remove_exit_hook(self, hook: Callable[[Exit], None]) -> None:
        ref = None if self._hooks is None else self._hooks.pop(hook, None)
        if ref is not None:
            self._group._unwatch(ref)

    def _post_event(self, event: object) -> None:
        if type(event) is not Cancel:
            raise TypeError(f"cannot post {event!r} to a remote process")
        self._group._cancel(self, event)

    def _terminate(self) -> None:
        self._group._terminate(self)

    def _monitor(self, watcher: Process) -> None:
        self._group._watch(self, watcher, None)

    def _demonitor(self, watcher: Process) -> None:
        self._group._demonitor(self, watcher)

    def _link(self, proc: Process) -> None:
        self._group._link(proc, self)

    def _unlink(self, proc: Process) -> None:
        self._group._unlink(proc, self)


class RemoteReplySlot(ReplySlot):
    """The reply address of a call from another node: ``set`` sends the answer back.

    It also watches the target, so the caller gets ``CallFailed`` when the target
    exits without replying (as with a local call).

    Args:
        group (NodeGroup): The node group that sends the answer back.
        peer (str): The caller's node.
        call (int): The caller's call id (``Reply.call``).
        proc (Process): The local process called.
        topic (str): The call's topic.
    """

    __slots__ = ("_call", "_group", "_peer", "_proc")

    def __init__(self, group: NodeGroup, peer: str, call: int, proc: Process, topic: str) -> None:
        super().__init__(proc.pid, topic)
        self._group = group
        self._peer = peer
        self._call = call
        self._proc = proc
        proc._add_exit_hook(self.target_exited)

    def target_exited(self, exit: Exit) -> None:
        """Exit hook: fail the call, because the target ended without replying.

        Args:
            exit (Exit): The called process's exit.
        """
        self._answer(
            False, None, f"target exited ({exit.reason.value}) before replying", exit.error
        )

    def set(self, result: Outcome[Any]) -> bool:
        """Send the answer back to the caller's node (the first answer only).

        Args:
            result (Outcome[Any]): The reply (``Value``) or the handler's error (``Error``).

        Returns:
            False if the call was answered already.

        Raises:
            PayloadError: If the reply cannot cross nodes (the caller gets ``CallFailed``).
        """
        if isinstance(result, Error):
            error = result.error
            cause = error.__cause__ if error.__cause__ is not None else error
            return self._answer(False, None, f"handler raised {describe(cause)}", None)
        return self._answer(True, result.unwrap(), "", None)

    def _answer(self, ok: bool, value: Any, why: str, cause: BaseException | None) -> bool:
        if self._outcome is not None:
            return False
        self._outcome = Error(RuntimeError("answered"))  # marks the slot used
        self._proc._remove_exit_hook(self.target_exited)
        return self._group._reply(self._peer, self._call, ok, value, why, cause)
