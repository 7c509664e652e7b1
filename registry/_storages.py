"""Storages behind ``env.variable`` entries: os, file (``.env``), memory, static and router."""

from __future__ import annotations

import os
import re
import stat
import tempfile
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Protocol, final

import attrs

from ._exceptions import EnvError, EnvReadOnlyError


class Storage(Protocol):
    """What an ``env.variable`` reads from and writes to. Keys and values are strings."""

    @property
    def writable(self) -> bool:
        """Whether :meth:`set` can work."""
        ...

    def get(self, key: str) -> str | None:
        """Return the value of ``key``, or ``None`` if this storage does not have it.

        Args:
            key (str): The variable's key in the storage.

        Raises:
            EnvError: If the storage cannot be read.
        """
        ...

    def set(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``; read-only storages raise :class:`EnvReadOnlyError`.

        Args:
            key (str): The variable's key in the storage.
            value (str): The text to store.

        Raises:
            EnvReadOnlyError: If the storage is read-only.
            EnvError: If it cannot be written.
        """
        ...


@final
@attrs.define(eq=False)
class OsStorage:
    """``env.storage.os``: the process environment, read-only."""

    environ: Mapping[str, str] = attrs.field(factory=lambda: os.environ)
    """The environment read (``os.environ`` by default; tests pass a dict)."""
    writable = False

    def get(self, key: str) -> str | None:
        """Return the environment variable ``key``, or ``None``.

        Args:
            key (str): The environment variable's name.
        """
        return self.environ.get(key)

    def set(self, key: str, value: str) -> None:
        """Refuse: the OS environment is read-only to the registry.

        Args:
            key (str): The variable's key in the storage.
            value (str): The text to store.

        Raises:
            EnvReadOnlyError: Always.
        """
        raise EnvReadOnlyError("env.storage.os is read-only")


@final
@attrs.define(eq=False)
class MemoryStorage:
    """``env.storage.memory``: a dict that lives as long as the ``Env``."""

    values: MutableMapping[str, str] = attrs.field(factory=dict)
    """The stored values by key (the initial ones may be passed in)."""
    writable = True

    def get(self, key: str) -> str | None:
        """Return the stored value, or ``None``.

        Args:
            key (str): The variable's key in the storage.
        """
        return self.values.get(key)

    def set(self, key: str, value: str) -> None:
        """Store the value.

        Args:
            key (str): The variable's key in the storage.
            value (str): The text to store.
        """
        self.values[key] = value


@final
@attrs.define(eq=False)
class StaticStorage:
    """``env.storage.static``: fixed ``values`` from the entry, read-only."""

    values: Mapping[str, str] = attrs.field(factory=dict)
    """The fixed values by key (the entry's ``values``)."""
    writable = False

    def get(self, key: str) -> str | None:
        """Return the fixed value, or ``None``.

        Args:
            key (str): The variable's key in the storage.
        """
        return self.values.get(key)

    def set(self, key: str, value: str) -> None:
        """Refuse: static values are read-only.

        Args:
            key (str): The variable's key in the storage.
            value (str): The text to store.

        Raises:
            EnvReadOnlyError: Always.
        """
        raise EnvReadOnlyError("env.storage.static is read-only")


@final
@attrs.define(eq=False)
class RouterStorage:
    """``env.storage.router``: reads try each storage in order; writes go to the first writable."""

    storages: Sequence[Storage]
    """The storages, in the order reads try them."""

    @property
    def writable(self) -> bool:
        """Whether any of the routed storages is writable."""
        return any(storage.writable for storage in self.storages)

    def get(self, key: str) -> str | None:
        """Return the first value found, in storage order; ``None`` if none has it.

        Args:
            key (str): The variable's key in the storage.

        Raises:
            EnvError: If a storage asked cannot be read.
        """
        for storage in self.storages:
            value = storage.get(key)
            if value is not None:
                return value
        return None

    def set(self, key: str, value: str) -> None:
        """Write to the first writable storage.

        Args:
            key (str): The variable's key in the storage.
            value (str): The text to store.

        Raises:
            EnvReadOnlyError: If no routed storage is writable.
            EnvError: If the storage written to cannot be written.
        """
        for storage in self.storages:
            if storage.writable:
                storage.set(key, value)
                return
        raise EnvReadOnlyError("every storage of this env.storage.router is read-only")


_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_PLAIN = re.compile(r"[A-Za-z0-9_./:@+,=\-]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


@final
@attrs.define(eq=False)
class FileStorage:
    """``env.storage.file``: a ``.env`` file, read on every ``get`` and rewritten on ``set``.

    Format: ``KEY=value`` lines, optional ``export`` prefix, ``#`` comments, blank lines,
    ``'single'`` (literal) and ``"double"`` (``\\n``, ``\\t``, ``\\"``, ``\\\\`` escapes) quotes.
    An unquoted value ends at `` #``. A missing file is empty when ``auto_create`` is set (and is
    created by the first ``set``); otherwise reading it is an :class:`EnvError`.
    """

    path: Path
    """The ``.env`` file."""
    auto_create: bool = False
    """Whether a missing file reads as empty and is created by the first ``set``."""
    file_mode: int = 0o600
    """The permission bits ``set`` gives the file it writes."""
    writable = True

    def get(self, key: str) -> str | None:
        """Return the value of ``key`` in the file, or ``None``.

        Args:
            key (str): The variable's key in the storage.

        Raises:
            EnvError: As :meth:`read`.
        """
        return self.read().get(key)

    def read(self) -> dict[str, str]:
        """Parse the whole file.

        Raises:
            EnvError: the file is missing (without ``auto_create``) or a line is malformed; the
                message names the file and line.
        """
        try:
            text = _read_env_file(self.path)
        except FileNotFoundError:
            if self.auto_create:
                return {}
            raise EnvError(
                f"env file {str(self.path)!r} does not exist (set auto_create: true to start "
                "with an empty file)"
            ) from None
        values: dict[str, str] = {}
        for number, line in enumerate(text.splitlines(), 1):
            parsed = _parse_line(line, f"{self.path}:{number}")
            if parsed is not None:
                values[parsed[0]] = parsed[1]
        return values

    def set(self, key: str, value: str) -> None:
        """Replace the line defining ``key`` (or append one), writing the file atomically.

        The new file has mode ``file_mode``; values are quoted when needed.

        Args:
            key (str): The variable's key in the file.
            value (str): The text to store.

        Raises:
            EnvError: If the file is missing (without ``auto_create``), unreadable or has a
                malformed line.
            OSError: If the file cannot be written.
        """
        lines = []
        if self.path.exists():
            lines = _read_env_file(self.path).splitlines()
        elif not self.auto_create:
            raise EnvError(
                f"env file {str(self.path)!r} does not exist (set auto_create: true to create it)"
            )
        new_line = f"{key}={_quote(value)}"
        for index, line in enumerate(lines):
            parsed = _parse_line(line, f"{self.path}:{index + 1}")
            if parsed is not None and parsed[0] == key:
                lines[index] = new_line
                break
        else:
            lines.append(new_line)
        fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write("\n".join(lines) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, self.file_mode)
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


MAX_ENV_FILE_BYTES = 1 << 20
"""Largest ``.env`` file read (1 MiB)."""


def _read_env_file(path: Path) -> str:
    """Read a regular UTF-8 file of at most ``MAX_ENV_FILE_BYTES``, never blocking on a FIFO.

    Raises:
        FileNotFoundError: the file does not exist.
        EnvError: anything else that stops the read, naming the file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise EnvError(f"env file {str(path)!r}: cannot read it: {error.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise EnvError(f"env file {str(path)!r} is not a regular file")
        raw = os.read(fd, MAX_ENV_FILE_BYTES + 1) if info.st_size <= MAX_ENV_FILE_BYTES else b""
        if info.st_size > MAX_ENV_FILE_BYTES or len(raw) > MAX_ENV_FILE_BYTES:
            limit = MAX_ENV_FILE_BYTES
            raise EnvError(f"env file {str(path)!r} is over the limit of {limit} bytes")
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise EnvError(f"env file {str(path)!r} is not UTF-8: {error}") from None
    except OSError as error:
        raise EnvError(f"env file {str(path)!r}: cannot read it: {error.strerror}") from None
    finally:
        os.close(fd)


def _parse_line(line: str, where: str) -> tuple[str, str] | None:
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if text.startswith("export "):
        text = text[len("export ") :].lstrip()
    key, sep, rest = text.partition("=")
    key = key.strip()
    if not sep or _KEY.fullmatch(key) is None:
        raise EnvError(f"{where}: expected KEY=value, got {line!r}")
    rest = rest.strip()
    if rest[:1] == "'":
        end = rest.find("'", 1)
        if end < 0:
            raise EnvError(f"{where}: unterminated single quote in {line!r}")
        value, tail = rest[1:end], rest[end + 1 :]
    elif rest[:1] == '"':
        value, tail = _double_quoted(rest, where, line)
    else:
        value, tail = rest.split(" #", 1)[0].rstrip(), ""
    tail = tail.strip()
    if tail and not tail.startswith("#"):
        raise EnvError(f"{where}: unexpected text after the quoted value in {line!r}")
    return key, value


def _double_quoted(rest: str, where: str, line: str) -> tuple[str, str]:
    out: list[str] = []
    index = 1
    while index < len(rest):
        char = rest[index]
        if char == "\\" and index + 1 < len(rest):
            following = rest[index + 1]
            out.append(_ESCAPES.get(following, "\\" + following))
            index += 2
        elif char == '"':
            return "".join(out), rest[index + 1 :]
        else:
            out.append(char)
            index += 1
    raise EnvError(f"{where}: unterminated double quote in {line!r}")


def _quote(value: str) -> str:
    if _PLAIN.fullmatch(value):
        return value
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\t", "\\t")
        .replace("\r", "\\r")
    )
    return f'"{escaped}"'
