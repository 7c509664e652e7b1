"""The per-user runtime folder where every node with a control endpoint registers itself.

Like ``tmux`` and ``docker``, ``actors ps`` finds the running nodes without being told where:
each control endpoint writes one small JSON entry (``<id>.json``: its socket, node name, app
folder, OS pid) next to its socket in the runtime folder, and removes both when it stops.
Entries left by a node that died are removed by the next look (``nodes()``).

The folder is, in order: ``$ACTORS_RUNTIME_DIR`` (tests and unusual setups), else
``$XDG_RUNTIME_DIR/actors``, else ``<system temp dir>/actors-<uid>``. It must belong to the
current user, be a real folder (not a symlink) and be closed to others (mode ``0700``); one
that is not is refused with a message saying why, never silently used.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import stat
import tempfile
from pathlib import Path

import msgspec

from ._errors import ControlError

MAX_ENTRY = 4096
"""Bytes: a larger entry file is not ours and is skipped."""


class NodeEntry(msgspec.Struct, forbid_unknown_fields=False):
    """One registered node, as its ``<id>.json`` file says."""

    socket: str
    """The control socket's path."""
    node: str
    """The node's name (``--node``), or ``""``."""
    app: str
    """The app folder given to ``actors run`` (resolved), or ``""`` for an embedded node."""
    pid: int
    """The OS process id of the node."""
    started: float
    """Wall-clock time (``time.time()``) when the endpoint opened."""
    send: bool = False
    """Whether ``send``/``call`` are allowed."""

    @property
    def label(self) -> str:
        """What ``actors ps`` shows in its NODE column: the node name, else the app folder's
        name, else ``pid<N>``."""
        return self.node or (Path(self.app).name if self.app else "") or f"pid{self.pid}"


_decoder = msgspec.json.Decoder(NodeEntry)


def runtime_dir(*, create: bool = False) -> Path:
    """The runtime folder (see the module docstring), checked; made (``0700``) if ``create``.

    Raises:
        ControlError: If it exists but is not a folder, belongs to another user, or is open
            to others; or cannot be made.
    """
    explicit = os.environ.get("ACTORS_RUNTIME_DIR")
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if explicit:
        folder = Path(explicit)
    elif xdg and Path(xdg).is_dir():
        folder = Path(xdg) / "actors"
    else:
        folder = Path(tempfile.gettempdir()) / f"actors-{os.getuid()}"
    check_dir(folder)
    if create:
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            raise ControlError(f"cannot make the runtime folder {folder}: {error}") from None
    check_dir(folder)
    return folder


def check_dir(folder: Path) -> None:
    """Refuse a folder that others could read or plant sockets in (as ``tmux`` does).

    A folder that does not exist passes (nothing is registered there).

    Raises:
        ControlError: If it is a symlink or not a folder, not ours, or open to group/others.
    """
    try:
        info = folder.lstat()
    except FileNotFoundError:
        return
    except OSError as error:
        raise ControlError(f"cannot read the runtime folder {folder}: {error}") from None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise ControlError(f"unsafe runtime folder {folder}: not a real folder (remove it)")
    if info.st_uid != os.getuid():
        raise ControlError(
            f"unsafe runtime folder {folder}: it belongs to user id {info.st_uid}, "
            f"not to you (user id {os.getuid()}); remove it or set ACTORS_RUNTIME_DIR"
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise ControlError(
            f"unsafe runtime folder {folder}: mode {mode:04o} lets others in; "
            f"run `chmod 700 {folder}`"
        )


def entry_id(app: str, node: str, pid: int) -> str:
    """The file stem of a node's entry and socket: readable prefix, then a short hash.

    An app folder run as one node (no ``--node``) always gets the same id, so a second
    ``actors run`` of the same folder finds the first one's live socket and is refused.
    """
    key = f"{app}\0{node}" if app else f"\0{node}\0{pid}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    prefix = node or (Path(app).name if app else "node")
    prefix = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in prefix)
    prefix = prefix[:24].lstrip(".") or "node"  # never hidden: ``nodes()`` lists *.json
    return f"{prefix}-{digest}"


def register(entry: NodeEntry, folder: Path, stem: str) -> Path:
    """Write ``entry`` as ``folder/<stem>.json`` (mode 0600, written then renamed)."""
    path = folder / f"{stem}.json"
    partial = folder / f".{stem}.{os.getpid()}.tmp"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(msgspec.json.encode(entry))
    os.replace(partial, path)
    return path


def read_entry(path: Path) -> NodeEntry | None:
    """The entry in ``path``, or None if it is unreadable, too large or not an entry."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_ENTRY + 1)
    except OSError:
        return None
    if len(data) > MAX_ENTRY:
        return None
    try:
        return _decoder.decode(data)
    except msgspec.DecodeError:
        return None


def _alive(entry: NodeEntry) -> bool:
    try:
        os.kill(entry.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process now has that pid: the node is gone
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(entry.socket)
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except OSError:
        return True  # busy or timed out: someone is there
    finally:
        probe.close()
    return True


def nodes(folder: Path | None = None) -> list[NodeEntry]:
    """The live nodes registered in the runtime folder, oldest first; stale entries (and
    their sockets) are removed on the way.

    Raises:
        ControlError: If the runtime folder is unsafe (see :func:`check_dir`).
    """
    where = runtime_dir() if folder is None else folder
    if not where.is_dir():
        return []
    found = []
    for path in sorted(where.glob("*.json")):
        entry = read_entry(path)
        if entry is None:
            continue
        if _alive(entry):
            found.append(entry)
            continue
        with contextlib.suppress(OSError):
            path.unlink()
        sock = Path(entry.socket)
        if sock.parent == where:
            with contextlib.suppress(OSError):
                sock.unlink()
    found.sort(key=lambda e: (e.started, e.label))
    return found
