"""Crash-safe file primitives: atomic writes and creates, temp cleanup, lock files.

Every function is synchronous and touches one small file (plus an fsync).
The rules readers rely on:

* A writer writes a temp file whose name starts with ``.`` and ends with
  ``.tmp`` in the target's folder, fsyncs it, then renames (replace) or
  hard-links (create, never overwriting) it to the final name and fsyncs
  the folder. A reader therefore sees the old file or the new one, never a
  torn one.
* Readers skip every name that starts with ``.`` or does not end in ``.json``.
* A lock is a file created with ``O_CREAT | O_EXCL`` holding the owner's PID.
  A lock whose owner (on this host) is dead, or that is older than a limit,
  is broken.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "cleanup_temp",
    "create_atomic",
    "file_lock",
    "fsync_dir",
    "is_temp_name",
    "lock_is_stale",
    "write_atomic",
]

_LOCK_POLL = 0.002


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


def _write_temp(directory: Path, stem: str, data: bytes) -> Path:
    tmp = directory / f".{stem}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
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


def create_atomic(path: Path, data: bytes) -> bool:
    """Create ``path`` with ``data`` atomically unless it already exists.

    Returns:
        bool: False (and nothing written) if ``path`` existed.
    """
    tmp = _write_temp(path.parent, path.name, data)
    try:
        os.link(tmp, path)  # fails with FileExistsError instead of overwriting
    except FileExistsError:
        return False
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
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
    removed = []
    now = time.time()
    with os.scandir(directory) as entries:
        for e in entries:
            if e.name.startswith(".") and e.name.endswith(".tmp") and e.is_file():
                with contextlib.suppress(FileNotFoundError):
                    if now - e.stat().st_mtime >= older_than:
                        os.unlink(e.path)
                        removed.append(Path(e.path))
    if removed:
        fsync_dir(directory)
    return removed


def lock_is_stale(lock: Path, older_than: float) -> bool:
    """A lock is stale if its owner (same host) is dead, or it is older than ``older_than``."""
    try:
        owner, age = lock.read_text(), time.time() - lock.stat().st_mtime
    except (FileNotFoundError, UnicodeDecodeError):
        return False
    if owner.isdigit() and int(owner) != os.getpid():
        try:
            os.kill(int(owner), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # alive, owned by another user
    return age >= older_than


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

    Yields:
        bool: True when the lock is held.

    Raises:
        TimeoutError: naming the lock file, after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            if lock_is_stale(lock, stale_after):
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()  # left by a crashed process
                continue
            if not wait:
                yield False
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"lock {str(lock)!r} held for over {timeout:g} s") from None
            time.sleep(_LOCK_POLL)
        else:
            try:
                os.write(fd, str(os.getpid()).encode())
            finally:
                os.close(fd)
            break
    try:
        yield True
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


def decode_json(raw: bytes) -> object:
    """Parse the bytes of a JSON file we or others wrote.

    Raises:
        ValueError: ``"file is empty"`` or ``"not valid JSON: ..."`` (callers wrap it with
            the file's path in their own error).
    """
    if not raw.strip():
        raise ValueError("file is empty")
    try:
        return json.loads(raw)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise ValueError(f"not valid JSON: {exc}") from None
