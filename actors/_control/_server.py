"""Serve the control endpoint: a Unix socket, readable and writable by its owner only.

``open_control_endpoint(node)`` binds the socket (mode 0600) in the per-user runtime folder
(0700, see ``_runtime.py``) or at a given path, registers the node there (``<id>.json``),
answers requests until the block ends, and removes both. A stale socket left by a node that
died is replaced; a socket another live node serves is an error. A peer whose user id is not
ours (``SO_PEERCRED``, where the platform has it) is refused. Each connection may send any
number of requests, one frame at a time; a frame too large or not a request gets an
``ErrorReply`` (an oversized one also closes the connection). Connections are limited in
number, and every read has a deadline, so a client cannot tie the node up.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import struct
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import final

import trio

from .._core._exceptions import ProcessNotFound
from .._core._logging import get_logger
from .._core._node import Node
from . import _listing, _poke, _snapshot, _trace, _tree
from ._directory import GroupsRequest, NamesRequest, PoolsRequest
from ._errors import ControlError
from ._protocol import (
    HEADER_SIZE,
    MAX_REQUEST,
    CallRequest,
    ErrorReply,
    FrameError,
    InfoRequest,
    PsRequest,
    Reply,
    Request,
    SendRequest,
    StateRequest,
    TraceRequest,
    TreeReply,
    TreeRequest,
    body_size,
    decode_request,
    frame,
)
from ._runtime import NodeEntry, entry_id, register, runtime_dir
from ._tree import Describe, _no_names
from ._usermetrics import MetricsRequest, metrics_reply

log = get_logger("actors.control")

MAX_CONNECTIONS = 16
IDLE_TIMEOUT = 30.0
"""Seconds a connection may wait between requests."""
FRAME_TIMEOUT = 5.0
"""Seconds a request's body may take to arrive once its length prefix has (a client that
never finishes a frame is cut off, not waited for)."""
CPU_IDLE_OFF = 60.0
"""CPU sampling stops this many seconds after the last query that asked for it."""
MAX_PATH = 100  # sun_path is 104-108 bytes depending on the platform


def socket_path(app_root: str | os.PathLike[str] = "", node: str | None = None) -> Path:
    """Where the node of the app in ``app_root`` (named ``node``, if given) listens.

    ``<runtime folder>/<app or node name>-<hash>.sock`` (see ``_runtime.py``); the same app
    and node name always give the same path, so a second node of them is refused at start.

    Args:
        app_root: The app folder (made absolute); empty for a node that runs no app, whose path then
            also depends on this OS process's id.
        node: The node's name, if it has one: two named nodes of one app get two sockets.

    Returns:
        Path: ``<runtime folder>/<prefix>-<hash>.sock``, where the prefix is the node name or the
            app folder's name.

    Raises:
        ControlError: If the runtime folder is unsafe.
    """
    app = os.fspath(Path(app_root).resolve()) if os.fspath(app_root) else ""
    stem = entry_id(app, node or "", os.getpid())
    return runtime_dir() / f"{stem}.sock"


def _prepare(path: Path) -> None:
    if len(os.fsencode(path)) > MAX_PATH:
        raise ControlError(f"control socket path is too long for a Unix socket: {path}")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder = path.parent.stat()
    if folder.st_uid != os.getuid():
        raise ControlError(f"{path.parent} belongs to user id {folder.st_uid}, not to you")
    if stat.S_IMODE(folder.st_mode) & 0o077:
        path.parent.chmod(0o700)  # ours but open to others: close it before binding
    if not path.exists() and not path.is_symlink():
        return
    mode = path.lstat().st_mode
    if not stat.S_ISSOCK(mode):
        raise ControlError(f"{path} exists and is not a socket; remove it or pick another path")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        path.unlink(missing_ok=True)  # stale: left by a node that is gone
        return
    except OSError as error:
        raise ControlError(f"cannot check the existing socket {path}: {error}") from None
    finally:
        probe.close()
    raise ControlError(f"another node is running with its control socket at {path}")


def _bind(path: Path) -> trio.socket.SocketType:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # the socket file is created 0600: no window with wider rights
    try:
        sock.bind(str(path))
    except OSError as error:
        sock.close()
        raise ControlError(f"cannot bind the control socket {path}: {error}") from None
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(MAX_CONNECTIONS)
    return trio.socket.from_stdlib_socket(sock)


def _remove(path: Path, keep: Path | None) -> None:
    path.unlink(missing_ok=True)
    if path.parent != keep:
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only when empty: leave no trace in the app folder


def _app_dir(app: str | os.PathLike[str]) -> str:
    return os.path.realpath(app) if os.fspath(app) else ""


def peer_uid(sock: trio.socket.SocketType) -> int | None:
    """The user id of the peer of a Unix socket (``SO_PEERCRED``), or None where the platform
    does not say (the socket's mode 0600 still keeps others out)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    creds = struct.Struct("3i")
    try:
        _pid, uid, _gid = creds.unpack(sock.getsockopt(socket.SOL_SOCKET, option, creds.size))
    except OSError:
        return None
    return int(uid)


@final
class ControlServer:
    """Answers control requests for one node (made by ``open_control_endpoint``)."""

    def __init__(
        self,
        node: Node,
        path: Path,
        entry: NodeEntry | None = None,
        describe: Describe | None = None,
    ) -> None:
        self.node = node
        self.path = path
        self.entry = entry
        """What the node registered in the runtime folder."""
        self.allow_send = False if entry is None else entry.send
        self.describe: Describe = describe or _no_names
        self.started = trio.current_time()
        self.cpu: _snapshot.CpuMeter | None = None
        self._cpu_asked = 0.0
        self._limit = trio.CapacityLimiter(MAX_CONNECTIONS)
        self.served = 0

    async def answer(self, request: Request) -> Reply:
        """The reply to one decoded request (never raises for a bad request)."""
        self.served += 1
        if isinstance(request, SendRequest):
            return _poke.send(self.node, request, self.allow_send)
        if isinstance(request, CallRequest):
            return await _poke.call(self.node, request, self.allow_send)
        if isinstance(request, StateRequest):
            return _poke.state(self.node, request, self.describe)
        if isinstance(request, PsRequest):
            if request.cpu or request.sort == "cpu":
                self._want_cpu()
            return _snapshot.ps(self.node, request, self.cpu, self.started, self.describe)
        if isinstance(request, InfoRequest):
            try:
                return _snapshot.info(self.node, request, self.cpu, self.describe)
            except ProcessNotFound as error:
                return ErrorReply(_snapshot.missing(request.pid, error))
        if isinstance(request, MetricsRequest):
            return metrics_reply(self.node, request)
        if isinstance(request, NamesRequest):
            return _listing.names(self.node, request, self.describe)
        if isinstance(request, GroupsRequest):
            return _listing.groups(self.node, request, self.describe)
        if isinstance(request, PoolsRequest):
            return _listing.pools(self.node, request)
        if isinstance(request, TreeRequest):
            roots, omitted = _tree.tree(self.node, self.describe, request.limit)
            return TreeReply(self.node.name or "", roots, omitted, len(self.node))
        return _snapshot.stats(self.node, self.started)

    def _want_cpu(self) -> None:
        self._cpu_asked = time.monotonic()
        if self.cpu is None:
            self.cpu = _snapshot.CpuMeter()
            trio.lowlevel.add_instrument(self.cpu)

    def _stop_cpu(self) -> None:
        if self.cpu is not None:
            trio.lowlevel.remove_instrument(self.cpu)
            self.cpu = None

    async def _cpu_watch(self) -> None:
        while True:
            await trio.sleep(CPU_IDLE_OFF / 4)
            if self.cpu is not None and time.monotonic() - self._cpu_asked > CPU_IDLE_OFF:
                self._stop_cpu()

    async def handle(self, stream: trio.SocketStream) -> None:
        """Serve one connection until the client closes it, idles or sends an oversized frame."""
        async with stream:
            uid = peer_uid(stream.socket)
            if uid is not None and uid != os.getuid():
                await stream.send_all(frame(ErrorReply(f"user id {uid} may not use this node")))
                return
            if self._limit.available_tokens == 0:
                await stream.send_all(frame(ErrorReply("too many control connections")))
                return
            async with self._limit:
                while True:
                    with trio.move_on_after(IDLE_TIMEOUT):
                        header = await _read(stream, HEADER_SIZE)
                    if header is None or len(header) < HEADER_SIZE:
                        return
                    try:
                        size = body_size(header, MAX_REQUEST)
                    except FrameError as error:
                        await stream.send_all(frame(ErrorReply(str(error))))
                        return
                    with trio.move_on_after(FRAME_TIMEOUT):
                        body = await _read(stream, size)
                    if body is None or len(body) < size:
                        return
                    try:
                        request = decode_request(body)
                    except FrameError as error:
                        await stream.send_all(frame(ErrorReply(str(error))))
                        continue
                    if isinstance(request, TraceRequest):
                        await self._trace(stream, request)
                        return  # a trace is the connection's last request
                    await stream.send_all(frame(await self.answer(request)))

    async def _trace(self, stream: trio.SocketStream, request: TraceRequest) -> None:
        """Stream a trace until it ends by itself or the client goes away."""
        try:
            proc = _snapshot.find(self.node, request.dest)
        except ProcessNotFound as error:
            await stream.send_all(frame(ErrorReply(_snapshot.missing(request.dest, error))))
            return
        tracer, stop = _trace.start(self.node, proc, request)
        try:
            async with trio.open_nursery() as nursery:

                async def until_closed() -> None:
                    await _read(stream, 1)  # the client sends nothing more: EOF or Ctrl+C
                    tracer.ended = tracer.ended or "closed"
                    nursery.cancel_scope.cancel()

                nursery.start_soon(until_closed)
                while tracer.ended is None or tracer.buffer:
                    for event in await _trace.next_batch(tracer):
                        await stream.send_all(frame(event))
                nursery.cancel_scope.cancel()
        finally:
            stop()
        if tracer.ended != "closed":
            await stream.send_all(frame(tracer.end("closed")))


async def _read(stream: trio.SocketStream, size: int) -> bytes | None:
    """Read exactly ``size`` bytes; fewer (or None) when the peer closed or was cut off."""
    data = bytearray()
    try:
        while len(data) < size:
            chunk = await stream.receive_some(size - len(data))
            if not chunk:
                break
            data += chunk
    except (trio.BrokenResourceError, OSError):
        return None
    return bytes(data)


async def _serve_one(server: ControlServer, stream: trio.SocketStream) -> None:
    """One connection; whatever goes wrong stays in it (the node is never harmed)."""
    try:
        await server.handle(stream)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the client went away
    except Exception as error:
        log.error("Control request failed", path=server.path, error=repr(error), exc_info=error)


@asynccontextmanager
async def open_control_endpoint(
    node: Node,
    path: str | os.PathLike[str] | None = None,
    *,
    app: str | os.PathLike[str] = "",
    allow_send: bool = False,
    describe: Describe | None = None,
) -> AsyncIterator[ControlServer]:
    """Serve ``node``'s control endpoint for the block, registered so ``actors ps`` finds it.

    The socket is created with mode 0600 (in the runtime folder, mode 0700, unless ``path``
    names another place) and removed, with its registration, when the block ends.

    Args:
        node: The node to serve.
        path: The socket's path; by default ``control_socket_path(app, node.name)``.
        app: The app folder this node runs (shown by ``actors ps --all``, matched by
            ``--app``).
        allow_send: Allow ``actors send`` and ``actors call`` (``actors run`` allows them;
            an embedded node is query-only unless it opts in). Queries, ``state`` and
            ``trace`` never run code and are always allowed.
        describe: The app's naming hook: ``describe(fn)`` is the name the user declared for a
            process function (``actors run`` gives registry entry ids such as
            ``app:worker``), or None for ``module.qualname``.

    Yields:
        ControlServer: The serving endpoint (its socket ``path``).

    Raises:
        ControlError: If the runtime folder is unsafe, the path is too long, is not a socket,
            another node serves it, or it cannot be bound.
    """
    folder = runtime_dir(create=True)
    app_dir = _app_dir(app)
    where = socket_path(app_dir, node.name) if path is None else Path(path)
    _prepare(where)
    sock = _bind(where)
    entry = NodeEntry(
        socket=os.fspath(where.absolute()),
        node=node.name or "",
        app=app_dir,
        pid=os.getpid(),
        started=time.time(),
        send=allow_send,
    )
    stem = where.stem if where.parent == folder else entry_id(app_dir, entry.node, entry.pid)
    try:
        registered = register(entry, folder, stem)
    except OSError as error:
        sock.close()
        _remove(where, folder)
        raise ControlError(f"cannot register the node in {folder}: {error}") from None
    server = ControlServer(node, where, entry, describe)
    listener = trio.SocketListener(sock)
    body_error: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server._cpu_watch)
            nursery.start_soon(trio.serve_listeners, _handler(server), [listener])
            try:
                yield server
            except BaseException as error:
                body_error = error  # re-raised below, not wrapped in an ExceptionGroup
            nursery.cancel_scope.cancel()
        if body_error is not None:
            raise body_error
    finally:
        server._stop_cpu()
        with trio.CancelScope(shield=True):
            await listener.aclose()
        registered.unlink(missing_ok=True)
        _remove(where, folder)


def _handler(server: ControlServer):  # type: ignore[no-untyped-def]
    async def handle(stream: trio.SocketStream) -> None:
        await _serve_one(server, stream)

    return handle
