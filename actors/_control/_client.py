"""The blocking client of the control endpoint (used by ``actors ps``, ``top``, ``info``).

Every failure is a :class:`ControlError` whose message says what is wrong and what to do: no
node running, a stale socket, permission denied, a node that does not answer.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from ._protocol import (
    HEADER_SIZE,
    MAX_REPLY,
    ErrorReply,
    FrameError,
    Reply,
    Request,
    body_size,
    decode_reply,
    frame,
)
from ._server import ControlError, runtime_dir, socket_path

TIMEOUT = 10.0


def find_socket(*, app: str | None = None, path: str | None = None) -> Path:
    """The socket to talk to: ``path``, the one of ``app``, or the only one running.

    Raises:
        ControlError: If there is none, or several and no way to choose.
    """
    if path is not None:
        return Path(path)  # connecting says what is wrong with it
    if app is not None:
        candidates = [socket_path(app), Path(app).resolve() / ".actors" / "control.sock"]
        for where in candidates:
            if where.exists():
                return where
        raise ControlError(
            f"no node running for the app in {app}: no control socket at "
            f"{' or '.join(str(c) for c in dict.fromkeys(candidates))} "
            "(is it started with `actors run`, without --no-control?)"
        )
    base = runtime_dir()
    local = Path.cwd() / ".actors" / "control.sock"
    found = sorted(base.glob("*.sock")) if base is not None and base.is_dir() else []
    if local.exists():
        found.append(local)
    if not found:
        where = base if base is not None else Path.cwd() / ".actors"
        raise ControlError(
            f"no node running: no control socket in {where} "
            "(start one with `actors run DIR`, or pass --app DIR or --socket PATH)"
        )
    if len(found) > 1:
        listed = "\n  ".join(str(p) for p in found)
        raise ControlError(f"several nodes are running; pick one with --socket:\n  {listed}")
    return found[0]


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

    def ask(self, request: Request) -> Reply:
        """Send ``request`` and return the node's reply.

        Raises:
            ControlError: If the node answers with an error, too late, or not at all.
        """
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
