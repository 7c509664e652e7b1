"""Crash-safe file primitives: atomic writes and creates, temp cleanup, lock files.

Every function is synchronous and touches one small file (plus an fsync).
The rules readers rely on:

* A writer writes a temp file whose name starts with ``.`` and ends with
  ``.tmp`` in the target's folder, fsyncs it, then renames (replace) or
  hard-links (create, never overwriting) it to the final name and fsyncs
  the folder. A reader therefore sees the old file or the new one, never a
  torn one.
* Readers skip every name that starts with ``.`` or does not end in ``.json``.
* A lock is a file holding the owner's PID, created complete: the PID is
  written to a temp file first, which is then hard-linked to the lock's name
  (fails if it exists). A lock that is empty, unreadable or not a PID can
  therefore only be left by a crashed or foreign writer, and is broken at
  once, like a lock whose owner (on this host) is dead; any lock older than a
  limit is broken too.
* Files other programs may write are read with :func:`read_bounded`: regular
  files only (never a FIFO, device or folder; a symlink loop is an error),
  at most :data:`MAX_FILE_BYTES`, and JSON at most :data:`MAX_JSON_DEPTH` deep.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import stat
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_JSON_DEPTH",
    "break_if_stale",
    "break_lock",
    "break_stale_locks",
    "cleanup_temp",
    "create_atomic",
    "decode_json",
    "file_lock",
    "fsync_dir",
    "is_temp_file",
    "is_temp_name",
    "json_depth_error",
    "lock_is_stale",
    "read_bounded",
    "remove_stale_temp",
    "write_atomic",
]

_LOCK_POLL = 0.002
_log = logging.getLogger("actors.cron")

MAX_FILE_BYTES = 1 << 20
"""Largest job or trigger file read (1 MiB); a bigger one is malformed, unread."""

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects accepted in a job or trigger file."""


def fsync_dir(directory: Path) -> None:
    """Flush a folder's entries (creates, renames, unlinks) to disk."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_temp_name(name: str) -> bool:
    """Return whether ``name`` is a temp or hidden file that readers skip."""
    return name.startswith(".") or not name.endswith(".json")


def _write_temp(directory: Path, stem: str, data: bytes, *, sync: bool = True) -> Path:
    tmp = directory / f".{stem}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if sync:
                os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return tmp


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so readers see the old or new file, never a torn one.

    Writes a temp file in the same folder, flushes and fsyncs it, renames it
    over ``path`` and fsyncs the folder.
    """
    tmp = _write_temp(path.parent, path.name, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def create_atomic(path: Path, data: bytes, *, sync: bool = True) -> bool:
    """Create ``path`` with ``data`` atomically unless it already exists.

    Args:
        path (Path): The file to create.
        data (bytes): Its whole contents.
        sync (bool): Whether to fsync the file and folder (a lock file,
            which a reboot makes stale anyway, skips it).

    Returns:
        bool: False (and nothing written) if ``path`` existed.
    """
    tmp = _write_temp(path.parent, path.name, data, sync=sync)
    try:
        os.link(tmp, path)  # fails with FileExistsError instead of overwriting
    except FileExistsError:
        return False
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    if sync:
        fsync_dir(path.parent)
    return True


def cleanup_temp(directory: Path, *, older_than: float = 60.0) -> list[Path]:
    """Remove temp files (``.*.tmp``) left by crashed writers.

    Args:
        directory (Path): Folder to clean (not recursive).
        older_than (float): Seconds; younger temp files may belong to a live
            writer in another process and are kept.

    Returns:
        list[Path]: The files removed.
    """
    now = time.time()
    with os.scandir(directory) as entries:
        temps = [Path(e.path) for e in entries if is_temp_file(e)]
    removed = [path for path in temps if remove_stale_temp(path, now, older_than)]
    if removed:
        fsync_dir(directory)
    return removed


def is_temp_file(entry: os.DirEntry[str]) -> bool:
    """Return whether a folder entry is a writer's temp file (``.*.tmp``, a regular file)."""
    return entry.name.startswith(".") and entry.name.endswith(".tmp") and entry.is_file()


def remove_stale_temp(path: Path, now: float, older_than: float) -> bool:
    """Remove the temp file ``path`` if it is ``older_than`` seconds old at ``now``.

    The caller fsyncs the folder once after a batch of removals.

    Returns:
        bool: Whether it was removed (False: young, or already gone).
    """
    try:
        if now - os.stat(path).st_mtime < older_than:
            return False
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def lock_is_stale(lock: Path, older_than: float) -> bool:
    """Return whether ``lock`` may be broken.

    A lock is stale at once if it is empty, unreadable or not a PID (our
    writers never leave such a file: see the module docs), or if its owner
    on this host is dead; any lock is stale once older than ``older_than``.
    """
    try:
        raw = read_bounded(lock, limit=64)
        age = time.time() - os.stat(lock, follow_symlinks=False).st_mtime
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return True  # unreadable, a folder or FIFO, or huge: no writer of ours made it
    owner = raw.decode("ascii", "replace").strip()
    if not owner.isdecimal() or not owner.isascii() or len(owner) > 12:
        return True  # empty (writer killed before its PID) or garbage
    if int(owner) != os.getpid():
        try:
            os.kill(int(owner), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # alive, owned by another user
        except (OverflowError, OSError):
            return True  # no such PID can exist
    return age >= older_than


def break_lock(lock: Path) -> None:
    """Remove a stale lock; an empty folder in its place goes too, anything else raises."""
    try:
        lock.unlink()
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        lock.rmdir()  # a folder in the lock's place: only an empty one is removed
    except PermissionError:
        if not lock.is_dir():
            raise
        lock.rmdir()


def break_stale_locks(directory: Path, *, older_than: float) -> list[Path]:
    """Remove the stale ``.*.lock`` files of ``directory`` (see :func:`lock_is_stale`).

    A lock that cannot be removed (a folder with files in it) is logged, not raised.

    Returns:
        list[Path]: The locks removed.
    """
    return [lock for lock in directory.glob(".*.lock") if break_if_stale(lock, older_than)]


def break_if_stale(lock: Path, older_than: float) -> bool:
    """Remove ``lock`` if :func:`lock_is_stale`; one that cannot be removed is logged.

    Returns:
        bool: Whether it was removed.
    """
    if not lock_is_stale(lock, older_than):
        return False
    try:
        break_lock(lock)
    except OSError as exc:
        _log.error("cron lock not removed file=%s error=%r", lock, exc)
        return False
    return True


@contextlib.contextmanager
def file_lock(
    lock: Path, *, wait: bool = True, timeout: float = 5.0, stale_after: float = 30.0
) -> Iterator[bool]:
    """Hold the lock file ``lock`` for the block.

    Args:
        lock (Path): The lock file; created with ``O_CREAT | O_EXCL``.
        wait (bool): Whether to wait for a live holder; if False, yields
            False at once when the lock is held (and holds nothing).
        timeout (float): Seconds to wait before giving up.
        stale_after (float): A lock older than this is broken.

    The lock is created complete (PID written, then linked into place), so
    there is no moment at which it exists empty.

    Yields:
        bool: True when the lock is held.

    Raises:
        TimeoutError: naming the lock file, after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        if create_atomic(lock, str(os.getpid()).encode(), sync=False):
            break
        if lock_is_stale(lock, stale_after):
            break_lock(lock)  # left by a crashed process
            continue
        if not wait:
            yield False
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"lock {str(lock)!r} held for over {timeout:g} s") from None
        time.sleep(_LOCK_POLL)
    try:
        yield True
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


def read_bounded(path: Path, *, limit: int = MAX_FILE_BYTES) -> bytes:
    """Read a regular file of at most ``limit`` bytes, without blocking on a FIFO.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: it is not a regular file (folder, FIFO, device, socket,
            symlink loop or dangling symlink), cannot be read, or is over ``limit`` bytes; the
            message says which (callers add the path).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        if os.path.islink(path):
            raise ValueError("a symlink to a missing file") from None
        raise
    except OSError as exc:
        raise ValueError(f"cannot read the file: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"not a regular file ({_file_kind(info.st_mode)})")
        if info.st_size > limit:
            raise ValueError(f"file is {info.st_size} bytes, over the limit of {limit}")
        chunks, size = [], 0
        while chunk := os.read(fd, limit + 1 - size):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise ValueError(f"file grew over the limit of {limit} bytes while read")
        return b"".join(chunks)
    except OSError as exc:
        raise ValueError(f"cannot read the file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _file_kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "a special file"


def json_depth_error(value: object, limit: int = MAX_JSON_DEPTH) -> str | None:
    """Return why ``value`` nests arrays/objects deeper than ``limit``, else None (iterative)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return f"nested deeper than {limit} levels"
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return None


def decode_json(raw: bytes) -> object:
    """Parse the bytes of a JSON file we or others wrote.

    Raises:
        ValueError: ``"file is empty"``, ``"not valid JSON: ..."`` or ``"nested deeper
            than 64 levels"`` (callers wrap it with the file's path in their own error).
    """
    if not raw.strip():
        raise ValueError("file is empty")
    try:
        value = json.loads(raw)
    except RecursionError:
        raise ValueError(f"not valid JSON: nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int digits limit
        raise ValueError(f"not valid JSON: {exc}") from None
    if (problem := json_depth_error(value)) is not None:
        raise ValueError(f"not valid JSON: {problem}")
    return value
