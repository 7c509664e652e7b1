"""Trigger files: the format, naming, listing, removal and quarantine.

A trigger file is the durable hand-off between the cron scheduler (or any
other program) and delivery. The rules, also in ``docs/semantics.md`` ("Durable cron"):

* Writers create ``<name>.json`` atomically (``_atomicfs.create_atomic``).
  Readers ignore everything that does not end in ``.json`` or starts with
  ``.``, so a half-written file is never seen.
* Names sort in fire order: ``<UTC time, microseconds>-<seq>-<job id>.json``.
* Delivery is at-least-once: a file is removed only after delivery
  succeeded (see ``_triggerdrain.py``).
* Malformed files move to ``quarantine/`` with a ``.reason.txt`` sidecar.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
from pathlib import Path
from typing import Any

import attrs

from .._core._pid import PID
from ._atomicfs import create_atomic, decode_json, fsync_dir, is_temp_name, read_bounded

JsonValue = Any
"""Any value ``json.loads`` can return."""

MAX_TRIGGER_BYTES = 4 << 20
"""Largest trigger file read (4 MiB: a job's prompt plus a heartbeat file of up to 1 MiB)."""

QUARANTINE = "quarantine"
"""Name of the sub-folder that holds malformed trigger files."""

_log = logging.getLogger("actors.cron")
_TS_FORMAT = "%Y%m%dT%H%M%S.%fZ"
_MAX_TIME_TEXT = 64

EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
"""Earliest instant a job or trigger file may hold."""
LATEST = dt.datetime(3000, 1, 1, tzinfo=dt.UTC)
"""Instants in files must be before this (so cron arithmetic never leaves ``datetime``)."""


class MalformedTrigger(ValueError):
    """A trigger file cannot be parsed; it will be quarantined, not retried.

    Args:
        path (Path): The offending file.
        reason (str): What is wrong, naming the field and value.
    """

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"malformed trigger file {str(path)!r}: {reason}")
        self.path = path
        self.reason = reason


def format_time(when: dt.datetime) -> str:
    """Format an aware datetime as ISO 8601 UTC with microseconds and ``Z``."""
    if when.tzinfo is None:
        raise ValueError(f"datetime {when.isoformat()!r} has no timezone; pass an aware datetime")
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: object, field: str) -> dt.datetime:
    """Parse an aware ISO 8601 string into a UTC datetime, naming ``field`` on error."""
    if not isinstance(value, str):
        raise ValueError(f"field {field!r} must be an ISO 8601 string, got {_short(value)}")
    if len(value) > _MAX_TIME_TEXT:
        raise ValueError(f"field {field!r} is not an ISO 8601 time: {_short(value)}")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"field {field!r} is not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"field {field!r} has no timezone: {value!r}")
    try:
        utc = parsed.astimezone(dt.UTC)
    except OverflowError:  # year 1 or 9999 pushed out of range by the offset
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError(
            f"field {field!r} is out of range: {value!r} (times must be from "
            f"{EARLIEST.year} up to, not including, {LATEST.year} UTC)"
        )
    return utc


def _short(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters for an error message."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-2:]}"


def check_target(target: str) -> str:
    """Return ``target`` if it can name a process: a PID string (``{...}``) must parse.

    Raises:
        ValueError: naming the field and the value, e.g. for ``"{bad"``.
    """
    if target.startswith("{") or target.endswith("}"):
        try:
            PID.parse(target)
        except ValueError:
            raise ValueError(
                f"field 'target' is not a valid PID string such as '{{main|0x00003}}': "
                f"{_short(target)}"
            ) from None
    return target


def _optional_str(data: dict[str, JsonValue], field: str) -> str | None:
    value = data.get(field)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"field {field!r} must be a string, got {_short(value)}")
    return value


@attrs.frozen
class Trigger:
    """The contents of one trigger file."""

    target: str
    """Process name or PID string (``{main|0x00003}``) the event is delivered to."""
    prompt: str | None = None
    """Text of the event; at least one of ``prompt`` and ``payload`` is set."""
    payload: JsonValue = None
    """Structured JSON payload of the event."""
    job_id: str | None = None
    """Id of the job that fired, or None for external triggers."""
    fired_at: dt.datetime | None = None
    """When the trigger was written (UTC)."""
    scheduled_for: dt.datetime | None = None
    """The cron slot this fire is for (UTC); differs from ``fired_at`` on catch-up."""
    attempt: int = 1
    """Delivery attempt number, 1 for a fresh file; bumped on failed delivery."""
    job_name: str | None = None
    """Human name of the job that fired, if any."""
    source: str | None = attrs.field(default=None, eq=False)
    """The file name it was read from (set by :func:`parse_trigger`, never stored)."""

    def to_json(self) -> dict[str, JsonValue]:
        """Return the JSON object written to the file."""
        return {
            "job_id": self.job_id,
            "job_name": self.job_name,
            "target": self.target,
            "prompt": self.prompt,
            "payload": self.payload,
            "fired_at": None if self.fired_at is None else format_time(self.fired_at),
            "scheduled_for": (
                None if self.scheduled_for is None else format_time(self.scheduled_for)
            ),
            "attempt": self.attempt,
        }

    @classmethod
    def from_json(cls, data: object, *, source: str | None = None) -> Trigger:
        """Build a trigger from a decoded JSON object, strictly.

        Args:
            data (object): The decoded JSON of a trigger file.
            source (str | None): The file's name, kept as ``source`` (not compared).

        Raises:
            ValueError: Naming the field and value that is wrong.
        """
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        target = data.get("target")
        if not isinstance(target, str) or not target:
            raise ValueError(f"field 'target' must be a non-empty string, got {_short(target)}")
        check_target(target)
        prompt = _optional_str(data, "prompt")
        payload = data.get("payload")
        if prompt is None and payload is None:
            raise ValueError("needs field 'prompt' or 'payload'; both are missing or null")
        attempt = data.get("attempt", 1)
        if type(attempt) is not int or attempt < 1:
            raise ValueError(f"field 'attempt' must be an integer >= 1, got {_short(attempt)}")
        times = {}
        for field in ("fired_at", "scheduled_for"):
            value = data.get(field)
            times[field] = None if value is None else parse_time(value, field)
        return cls(
            target=target,
            prompt=prompt,
            payload=payload,
            job_id=_optional_str(data, "job_id"),
            fired_at=times["fired_at"],
            scheduled_for=times["scheduled_for"],
            attempt=attempt,
            job_name=_optional_str(data, "job_name"),
            source=source,
        )


def encode_trigger(trigger: Trigger) -> bytes:
    """Return the bytes of a trigger file."""
    return (json.dumps(trigger.to_json(), indent=2) + "\n").encode()


def write_trigger(directory: Path, trigger: Trigger) -> Path:
    """Write ``trigger`` as a new file in ``directory``, atomically.

    The name is ``<fired_at>-<seq>-<job id or "external">.json`` so lexical
    order is fire order; ``seq`` is the first free number for that prefix,
    so two triggers never share a file.

    Args:
        directory (Path): The ``triggers/`` folder.
        trigger (Trigger): Contents; ``fired_at`` defaults to now.

    Returns:
        Path: The file written.

    Raises:
        OSError: If the file cannot be written (a missing folder, a full disk...).
    """
    if trigger.fired_at is None:
        trigger = attrs.evolve(trigger, fired_at=dt.datetime.now(dt.UTC))
    assert trigger.fired_at is not None
    stamp = trigger.fired_at.astimezone(dt.UTC).strftime(_TS_FORMAT)
    data = encode_trigger(trigger)
    tail = trigger.job_id or "external"
    for seq in range(1_000_000):
        path = directory / f"{stamp}-{seq:06d}-{tail}.json"
        if not path.exists() and create_atomic(path, data):
            return path
    raise FileExistsError(f"no free trigger file name for {stamp}-*-{tail}.json")


def parse_trigger(path: Path) -> Trigger:
    """Read and validate one trigger file.

    Raises:
        MalformedTrigger: the file is empty, not JSON, fails the schema, is
            over 4 MiB or nested over 64 levels, or is no regular file (a
            folder, FIFO, device or symlink loop).
        FileNotFoundError: the file vanished (already delivered).
    """
    try:
        raw = read_bounded(path, limit=MAX_TRIGGER_BYTES)
        return Trigger.from_json(decode_json(raw), source=path.name)
    except ValueError as exc:
        raise MalformedTrigger(path, str(exc)) from None


def job_id_of(path: Path) -> str | None:
    """Return the job id encoded in a trigger file name we wrote, else None."""
    parts = path.stem.split("-", 2)
    if len(parts) != 3 or parts[2] == "external" or not parts[1].isdigit():
        return None
    return parts[2]


def list_pending(directory: Path) -> list[Path]:
    """Return the pending trigger files in fire (lexical) order.

    Temp files, hidden files and the ``quarantine/`` folder are skipped; any
    other ``*.json`` name is listed, even a folder, FIFO or broken symlink,
    so that :func:`parse_trigger` reports it and the drain quarantines it.
    """
    with os.scandir(directory) as entries:
        names = [e.name for e in entries if not is_temp_name(e.name)]
    return [directory / name for name in sorted(names)]


def complete(path: Path) -> None:
    """Remove a delivered trigger file and fsync its folder; a missing file is fine."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fsync_dir(path.parent)


def quarantine(path: Path, reason: str) -> Path | None:
    """Move ``path`` to ``quarantine/`` next to it, with a ``<name>.reason.txt`` sidecar.

    An existing quarantined file is never overwritten: a clash gets a
    ``.1``, ``.2``... suffix. The sidecar is written first, so a crash
    leaves at worst an orphan sidecar, never an unexplained file.

    Returns:
        Path | None: The quarantined file, or None if ``path`` had vanished.

    Raises:
        OSError: ``path`` cannot be moved (a folder; the sidecar is removed again).
    """
    qdir = path.parent / QUARANTINE
    qdir.mkdir(exist_ok=True)
    for n in range(100_000):
        name = path.name if n == 0 else f"{path.stem}.{n}{path.suffix}"
        dest, sidecar = qdir / name, qdir / f"{name}.reason.txt"
        if dest.exists() or not create_atomic(sidecar, (reason + "\n").encode()):
            continue
        try:
            os.link(path, dest, follow_symlinks=False)  # a symlink moves as itself
        except FileExistsError:
            sidecar.unlink()
            continue
        except FileNotFoundError:
            sidecar.unlink()
            return None
        except OSError:  # a folder cannot be hard-linked: the caller logs it
            sidecar.unlink()
            raise
        complete(path)
        fsync_dir(qdir)
        _log.warning("trigger quarantined file=%s reason=%s", dest, reason)
        return dest
    raise FileExistsError(f"no free quarantine name for {path.name!r} in {str(qdir)!r}")
