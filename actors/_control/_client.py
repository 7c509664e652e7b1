"""The blocking client of the control endpoint (used by ``actors ps``, ``top``, ``info``).

It imports no trio: ``actors ps`` starts fast. ``choose`` finds the nodes registered in the
runtime folder (``_runtime.py``). Every failure is a :class:`ControlError` whose message says
what is wrong and what to do: no node running, a stale socket, permission denied, a node that
does not answer.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

from ._errors import ControlError
from ._protocol import (
    HEADER_SIZE,
    MAX_REPLY,
    ErrorReply,
    FrameError,
    Reply,
    Request,
    TraceEnd,
    body_size,
    decode_reply,
    frame,
)
from ._runtime import NodeEntry, nodes, runtime_dir

TIMEOUT = 10.0


def choose(
    *, app: str | None = None, node: str | None = None, path: str | None = None
) -> list[NodeEntry]:
    """The registered nodes that match: all of them, or those of ``app`` and/or ``node``.

    ``path`` names a socket directly: the result is one entry for it (registered or not).

    Raises:
        ControlError: If none matches (the message says where it looked and what to do), or
            the runtime folder is unsafe.
    """
    if path is not None:
        where = os.path.abspath(path)
        known = [e for e in nodes() if e.socket == where]
        return known or [NodeEntry(socket=where, node="", app="", pid=0, started=0.0)]
    folder = runtime_dir()
    found = nodes(folder)
    if app is not None:
        root = Path(app).resolve()
        found = [e for e in found if e.app and Path(e.app) in (root, root.parent)]
    if node is not None:
        found = [e for e in found if node in (e.node, e.label)]
    if found:
        return found
    if app is None and node is None:
        raise ControlError(
            f"no node running: none is registered in {folder} "
            "(start one with `actors run DIR`; an embedded node needs open_control_endpoint)"
        )
    wanted = " and ".join(
        part for part in (app and f"the app in {app}", node and f"node {node!r}") if part
    )
    raise ControlError(
        f"no node running for {wanted} in {folder}; `actors ps --all` lists the running ones"
    )


def choose_one(
    *, app: str | None = None, node: str | None = None, path: str | None = None
) -> NodeEntry:
    """The one node to talk to (see :func:`choose`).

    Raises:
        ControlError: If none matches, or several do (they are listed, with how to pick).
    """
    found = choose(app=app, node=node, path=path)
    if len(found) == 1:
        return found[0]
    listed = "\n  ".join(describe(e) for e in found)
    raise ControlError(
        f"{len(found)} nodes are running; pick one with --node NAME, --app DIR or "
        f"--socket PATH (or `actors ps --all`):\n  {listed}"
    )


def describe(entry: NodeEntry) -> str:
    """One line naming a registered node: label, OS pid, app folder, socket."""
    app = f"  app {entry.app}" if entry.app else ""
    return f"{entry.label}  (os pid {entry.pid}){app}  {entry.socket}"


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(min(size - len(data), 1 << 20))
        if not chunk:
            raise ControlError("the node closed the connection before answering")
        data += chunk
    return bytes(data)


class Connection:
    """One open connection to a node's control socket (a context manager)."""

    def __init__(self, where: Path, *, timeout: float = TIMEOUT) -> None:
        self.path = where
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(os.fspath(where))
        except ConnectionRefusedError:
            self._sock.close()
            raise ControlError(
                f"stale control socket {where}: no node is listening (the node that made it "
                "has exited); remove the file, or start the app again"
            ) from None
        except PermissionError:
            self._sock.close()
            try:
                owner = f"user id {where.stat().st_uid}"
            except OSError:
                owner = "another user"
            raise ControlError(
                f"permission denied on {where}: the socket belongs to {owner} "
                f"(you are user id {os.getuid()}); run the command as that user"
            ) from None
        except FileNotFoundError:
            self._sock.close()
            raise ControlError(f"no node running: {where} does not exist") from None
        except OSError as error:
            self._sock.close()
            raise ControlError(f"cannot connect to {where}: {error}") from None

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    def stream(self, request: Request, *, timeout: float) -> Iterator[Reply]:
        """Send ``request`` and yield the node's frames until it ends the stream (a trace:
        ``TraceEvent`` frames, then ``TraceEnd``).

        Raises:
            ControlError: If the node answers with an error or the connection breaks.
        """
        self._sock.settimeout(timeout)
        try:
            self._sock.sendall(frame(request))
            while True:
                size = body_size(_recv_exact(self._sock, HEADER_SIZE), MAX_REPLY)
                reply = decode_reply(_recv_exact(self._sock, size))
                if isinstance(reply, ErrorReply):
                    raise ControlError(reply.message)
                yield reply
                if isinstance(reply, TraceEnd):
                    return
        except TimeoutError:
            raise ControlError(f"the node at {self.path} went silent") from None
        except FrameError as error:
            raise ControlError(str(error)) from None
        except OSError as error:
            raise ControlError(f"lost the connection to {self.path}: {error}") from None

    def ask(self, request: Request, *, timeout: float | None = None) -> Reply:
        """Send ``request`` and return the node's reply (waiting at most ``timeout`` seconds,
        by default the connection's).

        Raises:
            ControlError: If the node answers with an error, too late, or not at all.
        """
        if timeout is not None:
            self._sock.settimeout(timeout)
        try:
            self._sock.sendall(frame(request))
            size = body_size(_recv_exact(self._sock, HEADER_SIZE), MAX_REPLY)
            reply = decode_reply(_recv_exact(self._sock, size))
        except TimeoutError:
            raise ControlError(f"the node at {self.path} did not answer in time") from None
        except FrameError as error:
            raise ControlError(str(error)) from None
        except OSError as error:
            raise ControlError(f"lost the connection to {self.path}: {error}") from None
        if isinstance(reply, ErrorReply):
            raise ControlError(reply.message)
        return reply
