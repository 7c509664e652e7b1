"""The receiving half of the node group: frames from peers, and the loss of a peer.

The ``NodeGroup`` methods the transport calls (``frame_received``, ``peer_up``,
``peer_down``) are these functions. A frame that does not decode is logged and dropped
(and counted); a frame naming a process that is gone is answered the way a local
operation would be (``noproc``), or (a plain send) reported to its sender as ``Undelivered``
(``_losses.py``). A frame this node cannot send back (the peer is not connected) is counted
(``frames_unsent``) and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec
import trio
from outcome import Error, Value

from .._core import _lifecycle
from .._core._exceptions import CallFailed, MailboxFull, NoProc, ProcessNotFound
from .._core._messages import Cancel, Exit, ExitReason, LinkDown, Message
from .._core._pid import PID
from . import _sync, _wire
from ._exports import import_function
from ._losses import UndeliveredReason
from ._remote import RemoteError, RemoteReplySlot, describe
from ._transport import NoConnection, NodeDown, NodeDownReason, NodeUp

if TYPE_CHECKING:
    from .._core._process import Process
    from ._group import NodeGroup
    from ._links import Links

__all__ = ["frame_received", "peer_down", "peer_up", "spawn_here"]

logger = logging.getLogger("actors.cluster")


def local(group: NodeGroup, pid: PID) -> Process | None:
    proc = group.node._procs.get(pid.seq)
    if proc is not None and proc.pid == pid:
        return proc
    return None


def try_send(group: Links, peer: str, frame: _wire.Frame) -> bool:
    """Send ``frame`` if ``peer`` is connected and it fits; else count and log it (a peer
    that is not connected has failed or will fail what waits on it); return whether sent."""
    try:
        group._transmit(peer, frame)
    except (NoConnection, ValueError) as error:  # not connected; larger than max_frame
        not_sent(group, peer, frame, error)
        return False
    return True


def not_sent(group: Links, peer: str, frame: _wire.Frame, error: Exception) -> None:
    """Count and log a frame the transport did not take (``error`` says why).

    Refused while ``peer`` is connected (its backlog is full), the frame would leave the peer
    waiting: a transport that can (``reset``) drops the link, so both sides see it lost.
    """
    group._unsent += 1
    refused = isinstance(error, NoConnection) and peer in group.transport.peers()
    logger.log(
        logging.INFO if isinstance(error, NoConnection) and not refused else logging.WARNING,
        "frame not sent node=%s peer=%s frame=%s error=%s",
        group.name,
        peer,
        type(frame).__name__,
        error,
    )
    reset = getattr(group.transport, "reset", None) if refused else None
    if reset is not None:
        reset(peer, f"a {type(frame).__name__} frame was refused: {error}")


# -- transport callbacks -----------------------------------------------------------


def peer_up(group: NodeGroup, peer: str) -> None:
    logger.info("node up node=%s peer=%s", group.name, peer)
    _sync.send_sync(group, peer, ask=True)
    group._notify_nodes(NodeUp(peer, trio.current_time()))


def peer_down(group: NodeGroup, peer: str, why: str, reason: NodeDownReason) -> None:
    """Everything that depended on ``peer`` ends now, with reason ``noconnection``."""
    level = logging.INFO if reason is NodeDownReason.LEFT else logging.WARNING
    logger.log(
        level, "node down node=%s peer=%s reason=%s why=%s", group.name, peer, reason.value, why
    )
    now = trio.current_time()
    for ref, watch in list(group._watches.items()):
        if watch.peer == peer and watch.target is not None:
            group._watch_down(ref, why)
    for call in [call for call, (node, _) in group._calls.items() if node == peer]:
        del group._calls[call]
    for ref, (node, done, box) in list(group._requests.items()):
        if node == peer:
            box.append(NoConnection(peer, why))
            done.set()
            del group._requests[ref]
    for key in [key for key in group._served if key[0] == peer]:
        proc, hook = group._served.pop(key)
        proc._remove_exit_hook(hook)
    for proc, pids in list(group._links.items()):
        lost = [pid for pid in pids if pid.node == peer]
        for pid in lost:
            pids.discard(pid)
            if local(group, proc.pid) is proc:
                error = NoConnection(peer, why)
                _lifecycle.link_down(proc, LinkDown(pid, ExitReason.NOCONNECTION, error, now))
    group._incarnations.pop(peer, None)  # the run it comes back as is new to this node
    group.names._peer_down(peer)
    group._scope.peer_down(peer)
    group._notify_nodes(NodeDown(peer, why, now, reason))


def frame_received(group: NodeGroup, peer: str, data: bytes) -> None:
    group._received += 1
    try:
        frame = _wire.decode(data)
    except msgspec.MsgspecError as error:
        group._dropped += 1
        logger.warning(
            "undecodable frame dropped peer=%s bytes=%d error=%s", peer, len(data), error
        )
        return
    handler = _HANDLERS.get(type(frame))
    if handler is None:
        group._dropped += 1
        logger.warning("unexpected frame dropped peer=%s frame=%s", peer, type(frame).__name__)
        return
    try:
        handler(group, peer, frame)
    except Exception as error:  # decodable but meaningless (e.g. an unknown reason)
        group._dropped += 1
        logger.warning("bad frame dropped peer=%s frame=%r error=%r", peer, frame, error)


# -- messages and calls ------------------------------------------------------------


def on_send(group: NodeGroup, peer: str, frame: _wire.Send | _wire.SendName) -> None:
    if isinstance(frame, _wire.Send):
        proc = local(group, frame.to)
    else:
        proc = group.node._names.get(frame.name)
    if proc is None:
        if frame.call:
            try_send(group, peer, _wire.Reply(frame.call, False, noproc=True))
        else:  # lost: the sender gets Undelivered (a local send would raise)
            group._losses.lost(peer, frame, UndeliveredReason.NOPROC, "")
        return
    slot = None
    if frame.call:
        slot = RemoteReplySlot(group, peer, frame.call, proc, frame.topic)
    try:
        proc._deliver(Message(frame.topic, frame.payload, frame.sender, slot))
    except Exception as error:  # a bounded mailbox refused it
        if slot is not None:
            slot._answer(False, None, f"not delivered: {error}", None)
        else:
            full = isinstance(error, MailboxFull)
            reason = UndeliveredReason.MAILBOX_FULL if full else UndeliveredReason.REFUSED
            group._losses.lost(peer, frame, reason, str(error))


def on_not_delivered(group: NodeGroup, peer: str, frame: _wire.NotDelivered) -> None:
    proc = local(group, frame.to)
    if proc is not None:
        group._losses.reported_to(proc, peer, frame)


def reply(
    group: NodeGroup,
    peer: str,
    call: int,
    ok: bool,
    value: Any,
    why: str,
    cause: BaseException | None,
) -> bool:
    """Send the answer of a call from ``peer`` (RemoteReplySlot)."""
    if ok:
        try:
            value = _wire.encode_payload_check(value, "a reply")
        except _wire.PayloadError as error:
            try_send(group, peer, _wire.Reply(call, False, None, f"reply not encodable: {error}"))
            raise
    frame = _wire.Reply(call, ok, value, why[:2000])
    try:
        group._transmit(peer, frame)
    except NoConnection as error:
        not_sent(group, peer, frame, error)
    except ValueError as error:  # larger than the transport's max_frame: fail the call
        try_send(group, peer, _wire.Reply(call, False, None, f"reply not sent: {error}"))
        raise
    return True


def on_reply(group: NodeGroup, peer: str, frame: _wire.Reply) -> None:
    call_result(group, frame.call, frame.ok, frame.value, frame.error, frame.noproc)


def call_result(
    group: NodeGroup, call: int, ok: bool, value: Any, error: str, noproc: bool
) -> None:
    entry = group._calls.pop(call, None)
    if entry is None:
        return  # the caller stopped waiting: a late reply is dropped
    peer, slot = entry
    if ok:
        slot.set(Value(value))
    elif noproc:
        slot.set(Error(ProcessNotFound(slot.target)))
    else:
        failure = CallFailed(slot.target, slot.topic, f"{error} (on node {peer!r})")
        failure.__cause__ = RemoteError(peer, error)
        slot.set(Error(failure))


# -- monitors ----------------------------------------------------------------------


def on_watch(group: NodeGroup, peer: str, frame: _wire.Watch) -> None:
    proc = local(group, frame.target)
    if proc is None:
        try_send(group, peer, _wire.Down(frame.ref, frame.target, "error", noproc=True))
        return
    serve_watch(group, peer, frame.ref, proc)


def serve_watch(group: NodeGroup, peer: str, ref: int, proc: Process) -> None:
    key = (peer, ref)

    def hook(exit: Exit) -> None:
        group._served.pop(key, None)
        try:
            result = _wire.encode_payload_check(exit.result, "a result")
        except _wire.PayloadError:
            result = None
        down = _wire.Down(ref, exit.pid, exit.reason.value, result, describe(exit.error))
        if not try_send(group, peer, down) and result is not None:  # too large: no result
            try_send(group, peer, _wire.Down(ref, exit.pid, exit.reason.value, None, down.error))

    group._served[key] = (proc, hook)
    proc._add_exit_hook(hook)


def on_unwatch(group: NodeGroup, peer: str, frame: _wire.Unwatch) -> None:
    served = group._served.pop((peer, frame.ref), None)
    if served is not None:
        served[0]._remove_exit_hook(served[1])


def on_down(group: NodeGroup, peer: str, frame: _wire.Down) -> None:
    watch = group._watches.pop(frame.ref, None)
    if watch is None:
        return
    group._forget(frame.ref, watch, frame.target)
    error: BaseException | None = None
    if frame.noproc:
        error = NoProc(frame.target)
    elif frame.error:
        error = RemoteError(peer, frame.error)
    reason = ExitReason(frame.reason)
    exit = Exit(frame.target, reason, frame.result, error, trio.current_time())
    group._fire(watch, exit)


# -- links, cancel, terminate --------------------------------------------------------


def on_link(group: NodeGroup, peer: str, frame: _wire.Link) -> None:
    proc = local(group, frame.remote)
    if proc is None:
        try_send(group, peer, _wire.LinkExit(frame.remote, frame.local, "error", noproc=True))
        return
    group._add_link(proc, frame.local)


def on_unlink(group: NodeGroup, peer: str, frame: _wire.Unlink) -> None:
    proc = local(group, frame.remote)
    pids = None if proc is None else group._links.get(proc)
    if pids is not None:
        pids.discard(frame.local)


def on_link_exit(group: NodeGroup, peer: str, frame: _wire.LinkExit) -> None:
    proc = local(group, frame.to)
    pids = None if proc is None else group._links.get(proc)
    if proc is None or pids is None or frame.source not in pids:
        return  # unlinked meanwhile, or the local partner is gone
    pids.discard(frame.source)
    error: BaseException = NoProc(frame.source) if frame.noproc else RemoteError(peer, frame.error)
    event = LinkDown(frame.source, ExitReason(frame.reason), error, trio.current_time())
    _lifecycle.link_down(proc, event)


def on_cancel(group: NodeGroup, peer: str, frame: _wire.CancelReq) -> None:
    proc = local(group, frame.to)
    if proc is not None:
        _lifecycle.post_cancel(proc, Cancel(frame.sender, frame.reason, trio.current_time()))


def on_terminate(group: NodeGroup, peer: str, frame: _wire.TerminateReq) -> None:
    proc = local(group, frame.to)
    if proc is not None:
        _lifecycle.terminate(proc, shutdown=False)


# -- spawn and lookup ------------------------------------------------------------------


def spawn_here(
    group: NodeGroup,
    function: str,
    args: list[Any],
    host: str | None,
    name: str | None,
    link: Process | None,
    monitor: Process | None,
    *,
    remote: bool = False,
) -> PID:
    """Spawn ``function`` here: an export, or (not ``remote``) any importable async function."""
    if remote:
        fn = group.exports.resolve(function)
    else:  # this node's own code: exported, or any importable async function
        try:
            fn = group.exports.resolve(function)
        except PermissionError:
            fn = import_function(function)
    parent = link if link is not None else monitor
    if parent is None:
        return group.node._spawn(fn, tuple(args), None, host, name, None, False, False)
    return group.node._spawn(
        fn, tuple(args), parent, host, name, None, link is not None, monitor is not None
    )


def on_spawn(group: NodeGroup, peer: str, frame: _wire.Spawn) -> None:
    try:
        pid = spawn_here(
            group, frame.function, frame.args, frame.host, frame.name, None, None, remote=True
        )
    except Exception as error:
        if isinstance(error, PermissionError):
            logger.warning("remote spawn refused peer=%s error=%s", peer, error)
        try_send(group, peer, _wire.Spawned(frame.ref, None, describe(error)))
        return
    proc = local(group, pid)
    assert proc is not None  # it has not run yet
    if frame.watcher is not None:
        serve_watch(group, peer, frame.ref, proc)
    if frame.linker is not None:
        group._add_link(proc, frame.linker)
    try_send(group, peer, _wire.Spawned(frame.ref, pid))


def on_answer(group: NodeGroup, peer: str, frame: _wire.Spawned | _wire.Found) -> None:
    request = group._requests.get(frame.ref)
    if request is None or request[0] != peer:
        return
    _, done, box = request
    if isinstance(frame, _wire.Spawned):
        if frame.pid is not None:
            group._spawned(frame.ref, frame.pid)
        box.extend((frame.pid, frame.error))
    else:
        box.append(frame.pid)
    done.set()


def on_lookup(group: NodeGroup, peer: str, frame: _wire.Lookup) -> None:
    try_send(group, peer, _wire.Found(frame.ref, group.node.lookup(frame.name)))


_HANDLERS: dict[type[Any], Callable[[NodeGroup, str, Any], None]] = {
    _wire.Send: on_send,
    _wire.SendName: on_send,
    _wire.Reply: on_reply,
    _wire.Watch: on_watch,
    _wire.Unwatch: on_unwatch,
    _wire.Down: on_down,
    _wire.Link: on_link,
    _wire.Unlink: on_unlink,
    _wire.LinkExit: on_link_exit,
    _wire.CancelReq: on_cancel,
    _wire.TerminateReq: on_terminate,
    _wire.Spawn: on_spawn,
    _wire.Spawned: on_answer,
    _wire.Lookup: on_lookup,
    _wire.Found: on_answer,
    _wire.NameClaim: lambda group, peer, frame: group.names._on_claim(peer, frame),
    _wire.NameRelease: lambda group, peer, frame: group.names._on_release(peer, frame),
    _wire.GroupJoin: lambda group, peer, frame: group._scope.on_join(peer, frame),
    _wire.GroupLeave: lambda group, peer, frame: group._scope.on_leave(peer, frame),
    _wire.Sync: _sync.on_sync,
    _wire.NotDelivered: on_not_delivered,
}
