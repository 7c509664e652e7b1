"""Serve the control endpoint: a Unix socket, readable and writable by its owner only.

``open_control_endpoint(node, path)`` binds the socket (mode 0600, its folder 0700), answers
``ps``/``info``/``stats`` requests until the block ends, and removes the socket. A stale socket
left by a node that died is replaced; a socket another live node serves is an error. Each
connection may send any number of requests, one frame at a time; a frame too large or not a
request gets an ``ErrorReply`` (an oversized one also closes the connection). Connections are
limited in number and idle time, so a client cannot tie the node up.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import stat
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import final

import trio

from .._core._exceptions import ProcessNotFound
from .._core._logging import get_logger
from .._core._node import Node
from . import _snapshot
from ._protocol import (
    HEADER_SIZE,
    MAX_REQUEST,
    ErrorReply,
    FrameError,
    InfoRequest,
    PsRequest,
    Reply,
    Request,
    body_size,
    decode_request,
    frame,
)
from ._usermetrics import MetricsRequest, metrics_reply

log = get_logger("actors.control")

MAX_CONNECTIONS = 16
IDLE_TIMEOUT = 30.0
CPU_IDLE_OFF = 60.0
"""CPU sampling stops this many seconds after the last query that asked for it."""
MAX_PATH = 100  # sun_path is 104-108 bytes depending on the platform


class ControlError(Exception):
    """The control endpoint cannot be opened or reached; the message says what to do."""


def runtime_dir() -> Path | None:
    """``$XDG_RUNTIME_DIR/actors`` when ``XDG_RUNTIME_DIR`` names a folder, else None."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and Path(base).is_dir():
        return Path(base) / "actors"
    return None


def socket_path(app_root: str | os.PathLike[str]) -> Path:
    """Where the node of the app in ``app_root`` listens.

    ``$XDG_RUNTIME_DIR/actors/<app>-<hash>.sock`` when there is a runtime folder, else
    ``<app_root>/.actors/control.sock``.
    """
    root = Path(app_root).resolve()
    base = runtime_dir()
    if base is None:
        return root / ".actors" / "control.sock"
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:10]
    return base / f"{root.name[:40] or 'app'}-{digest}.sock"


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


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()  # only when empty: leave no trace in the app folder


@final
class ControlServer:
    """Answers control requests for one node (made by ``open_control_endpoint``)."""

    def __init__(self, node: Node, path: Path) -> None:
        self.node = node
        self.path = path
        self.started = trio.current_time()
        self.cpu: _snapshot.CpuMeter | None = None
        self._cpu_asked = 0.0
        self._limit = trio.CapacityLimiter(MAX_CONNECTIONS)
        self.served = 0

    def answer(self, request: Request) -> Reply:
        """The reply to one decoded request (never raises for a bad request)."""
        self.served += 1
        if isinstance(request, PsRequest):
            if request.cpu or request.sort == "cpu":
                self._want_cpu()
            return _snapshot.ps(self.node, request, self.cpu, self.started)
        if isinstance(request, InfoRequest):
            try:
                return _snapshot.info(self.node, request.pid, self.cpu)
            except ProcessNotFound:
                return ErrorReply(f"no live process {request.pid!r}")
        if isinstance(request, MetricsRequest):
            return metrics_reply(self.node, request)
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
                    with trio.move_on_after(IDLE_TIMEOUT):
                        body = await _read(stream, size)
                    if body is None or len(body) < size:
                        return
                    try:
                        reply = self.answer(decode_request(body))
                    except FrameError as error:
                        reply = ErrorReply(str(error))
                    await stream.send_all(frame(reply))


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
    node: Node, path: str | os.PathLike[str]
) -> AsyncIterator[ControlServer]:
    """Serve ``node``'s control endpoint on the Unix socket ``path`` for the block.

    The socket is created with mode 0600 in a folder made with mode 0700, and removed when
    the block ends. It answers queries only (``actors ps``, ``top``, ``info``); no code runs
    over it.

    Raises:
        ControlError: If the path is too long, is not a socket, another node serves it, or
            it cannot be bound.
    """
    where = Path(path)
    _prepare(where)
    sock = _bind(where)
    server = ControlServer(node, where)
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
        _remove(where)


def _handler(server: ControlServer):  # type: ignore[no-untyped-def]
    async def handle(stream: trio.SocketStream) -> None:
        await _serve_one(server, stream)

    return handle
