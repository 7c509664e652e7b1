"""Trigger files: one JSON file per fire, drained in filename order.

A trigger file is the durable hand-off between the cron scheduler (or any
other program) and delivery. The rules, shared with ``docs/_draft_durable_cron.md``:

* Writers create ``<name>.json`` atomically: write a temp file whose name
  starts with ``.`` and ends with ``.tmp`` in the same folder, fsync it,
  hard-link it to the final name (never overwriting) and fsync the folder.
  Readers ignore everything that does not end in ``.json`` or starts with
  ``.``, so a half-written file is never seen.
* Names sort in fire order: ``<UTC time, microseconds>-<seq>-<job id>.json``.
* Delivery is at-least-once: a file is removed only after the delivery
  callback returned, so a crash in between delivers it again on restart.
* Malformed files move to ``quarantine/`` with a ``.reason.txt`` sidecar.

All file operations here are synchronous and short (one small file each);
the async parts are the drain and the watcher, which only add waiting.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import trio

JsonValue = Any
"""Any value ``json.loads`` can return."""

QUARANTINE = "quarantine"
"""Name of the sub-folder that holds malformed trigger files."""

_log = logging.getLogger("actors.cron")
_TS_FORMAT = "%Y%m%dT%H%M%S.%fZ"


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


# ---------------------------------------------------------------- atomic IO


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


# ------------------------------------------------------------ the format


def format_time(when: dt.datetime) -> str:
    """Format an aware datetime as ISO 8601 UTC with microseconds and ``Z``."""
    if when.tzinfo is None:
        raise ValueError(f"datetime {when.isoformat()!r} has no timezone; pass an aware datetime")
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: object, field: str) -> dt.datetime:
    """Parse an aware ISO 8601 string into a UTC datetime, naming ``field`` on error."""
    if not isinstance(value, str):
        raise ValueError(f"field {field!r} must be an ISO 8601 string, got {value!r}")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"field {field!r} is not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"field {field!r} has no timezone: {value!r}")
    return parsed.astimezone(dt.UTC)


@attrs.frozen
class Trigger:
    """The contents of one trigger file."""

    target: str
    """Process name or PID string the event is delivered to."""
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

    def to_json(self) -> dict[str, JsonValue]:
        """Return the JSON object written to the file."""
        return {
            "job_id": self.job_id,
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
    def from_json(cls, data: object) -> Trigger:
        """Build a trigger from a decoded JSON object, strictly.

        Raises:
            ValueError: naming the field and value that is wrong.
        """
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        target = data.get("target")
        if not isinstance(target, str) or not target:
            raise ValueError(f"field 'target' must be a non-empty string, got {target!r}")
        prompt = data.get("prompt")
        if prompt is not None and not isinstance(prompt, str):
            raise ValueError(f"field 'prompt' must be a string, got {prompt!r}")
        payload = data.get("payload")
        if prompt is None and payload is None:
            raise ValueError("needs field 'prompt' or 'payload'; both are missing or null")
        job_id = data.get("job_id")
        if job_id is not None and not isinstance(job_id, str):
            raise ValueError(f"field 'job_id' must be a string, got {job_id!r}")
        attempt = data.get("attempt", 1)
        if type(attempt) is not int or attempt < 1:
            raise ValueError(f"field 'attempt' must be an integer >= 1, got {attempt!r}")
        times = {}
        for field in ("fired_at", "scheduled_for"):
            value = data.get(field)
            times[field] = None if value is None else parse_time(value, field)
        return cls(
            target=target,
            prompt=prompt,
            payload=payload,
            job_id=job_id,
            fired_at=times["fired_at"],
            scheduled_for=times["scheduled_for"],
            attempt=attempt,
        )


def _encode(trigger: Trigger) -> bytes:
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
    """
    if trigger.fired_at is None:
        trigger = attrs.evolve(trigger, fired_at=dt.datetime.now(dt.UTC))
    assert trigger.fired_at is not None
    stamp = trigger.fired_at.astimezone(dt.UTC).strftime(_TS_FORMAT)
    data = _encode(trigger)
    tail = trigger.job_id or "external"
    for seq in range(1_000_000):
        path = directory / f"{stamp}-{seq:06d}-{tail}.json"
        if not path.exists() and create_atomic(path, data):
            return path
    raise FileExistsError(f"no free trigger file name for {stamp}-*-{tail}.json")


def parse_trigger(path: Path) -> Trigger:
    """Read and validate one trigger file.

    Raises:
        MalformedTrigger: the file is empty, not JSON or fails the schema.
        FileNotFoundError: the file vanished (already delivered).
    """
    raw = path.read_bytes()
    if not raw.strip():
        raise MalformedTrigger(path, "file is empty")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedTrigger(path, f"not valid JSON: {exc}") from None
    try:
        return Trigger.from_json(data)
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

    Temp files, hidden files and the ``quarantine/`` folder are skipped.
    """
    with os.scandir(directory) as entries:
        names = [e.name for e in entries if not is_temp_name(e.name) and e.is_file()]
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
    """
    qdir = path.parent / QUARANTINE
    qdir.mkdir(exist_ok=True)
    for n in range(100_000):
        name = path.name if n == 0 else f"{path.stem}.{n}{path.suffix}"
        dest, sidecar = qdir / name, qdir / f"{name}.reason.txt"
        if dest.exists() or not create_atomic(sidecar, (reason + "\n").encode()):
            continue
        try:
            os.link(path, dest)
        except FileExistsError:
            sidecar.unlink()
            continue
        except FileNotFoundError:
            sidecar.unlink()
            return None
        complete(path)
        fsync_dir(qdir)
        _log.warning("trigger quarantined file=%s reason=%s", dest, reason)
        return dest
    raise FileExistsError(f"no free quarantine name for {path.name!r} in {str(qdir)!r}")


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
    now = dt.datetime.now().timestamp()
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


# ------------------------------------------------------------ drain and watch

Deliver = Callable[[Trigger], Awaitable[object]]
"""Delivery callback: returns once the trigger is handed over; raises to retry."""


@attrs.frozen
class RetryPolicy:
    """In-process retry of failed deliveries with exponential backoff."""

    max_attempts: int = 5
    """Deliveries tried per drain pass before the file is left for a later pass."""
    initial_delay: float = 0.5
    """Seconds before the second attempt."""
    factor: float = 2.0
    """Multiplier applied to the delay after each failure."""
    max_delay: float = 30.0
    """Upper bound on one delay, in seconds."""

    def __attrs_post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts!r}")
        if self.initial_delay < 0 or self.max_delay < 0 or self.factor < 1:
            raise ValueError(f"invalid backoff: {self!r}")

    def delay(self, failures: int) -> float:
        """Return the seconds to wait after ``failures`` consecutive failures (>= 1)."""
        return min(self.max_delay, self.initial_delay * self.factor ** (failures - 1))


@attrs.define
class DeliveryLedger:
    """Names being delivered or done, so each file is delivered once per process.

    Share one ledger between drains that may overlap (the watcher does).
    """

    in_flight: set[str] = attrs.field(factory=set)
    """Names a drain is delivering right now."""
    done: set[str] = attrs.field(factory=set)
    """Names delivered whose file could not be removed; pruned once it is gone."""


async def drain(
    directory: Path,
    deliver: Deliver,
    *,
    retry: RetryPolicy = RetryPolicy(),
    ledger: DeliveryLedger | None = None,
    on_delivered: Callable[[Trigger], object] | None = None,
    malformed_grace: float = 1.0,
) -> int:
    """Deliver every pending trigger in ``directory`` once, in filename order.

    A file is removed only after ``deliver`` returned, then ``on_delivered``
    runs (the cron service deletes a fired oneshot job there). A failure is
    retried with backoff up to ``retry.max_attempts``; then the file stays,
    with its ``attempt`` count saved, for a later pass. Cancelling leaves
    every undelivered file in place.

    Args:
        directory (Path): The ``triggers/`` folder.
        deliver (Deliver): Async callback; an ``Exception`` means "retry".
        retry (RetryPolicy): Backoff between failed attempts.
        ledger (DeliveryLedger | None): Shared by overlapping drains.
        on_delivered (Callable | None): Sync callback after a file is removed.
        malformed_grace (float): Seconds a malformed file may be younger
            than before it is quarantined, since it may still be being
            written by a program that skipped the temp-and-rename step.

    Returns:
        int: Number of triggers delivered.
    """
    ledger = DeliveryLedger() if ledger is None else ledger
    paths = list_pending(directory)
    names = {p.name for p in paths}
    ledger.done &= names
    delivered = 0
    for path in paths:
        if path.name in ledger.in_flight or path.name in ledger.done:
            continue
        try:
            trigger = parse_trigger(path)
        except FileNotFoundError:
            continue  # delivered by an overlapping drain
        except MalformedTrigger as exc:
            with contextlib.suppress(FileNotFoundError):
                age = dt.datetime.now().timestamp() - path.stat().st_mtime
                if age >= malformed_grace:
                    quarantine(path, exc.reason)
            continue
        ledger.in_flight.add(path.name)  # no checkpoint since the check above
        try:
            ok = await _deliver_one(path, trigger, deliver, retry)
        finally:
            ledger.in_flight.discard(path.name)
        if ok:
            delivered += 1
            try:
                complete(path)
            except OSError as exc:
                ledger.done.add(path.name)
                _log.error("trigger delivered but not removed file=%s error=%r", path, exc)
            if on_delivered is not None:
                on_delivered(trigger)
    return delivered


async def _deliver_one(path: Path, trigger: Trigger, deliver: Deliver, retry: RetryPolicy) -> bool:
    for failures in range(1, retry.max_attempts + 1):
        try:
            await deliver(trigger)
        except Exception as exc:
            _log.warning(
                "trigger delivery failed file=%s attempt=%d error=%r", path, trigger.attempt, exc
            )
            trigger = attrs.evolve(trigger, attempt=trigger.attempt + 1)
            if failures == retry.max_attempts:
                break
            await trio.sleep(retry.delay(failures))
        else:
            return True
    _save_attempt(path, trigger)
    return False


def _save_attempt(path: Path, trigger: Trigger) -> None:
    # Keep the attempt count for the next pass; the file may have vanished.
    if path.exists():
        write_atomic(path, _encode(trigger))


async def watch_triggers(
    directory: Path,
    deliver: Deliver,
    *,
    poll_interval: float = 0.5,
    retry: RetryPolicy = RetryPolicy(),
    on_delivered: Callable[[Trigger], object] | None = None,
    malformed_grace: float = 1.0,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Drain ``directory`` now, then again every ``poll_interval`` seconds, forever.

    Polling re-lists the folder, so a file dropped at any moment (even in the
    middle of a drain) is delivered by the next pass: there is no window
    between "drain the backlog" and "start watching". Reports started at
    once, before the first pass; cancel the surrounding scope to stop.
    Arguments are as for :func:`drain`.
    """
    if poll_interval <= 0:
        raise ValueError(f"poll_interval must be > 0, got {poll_interval!r}")
    ledger = DeliveryLedger()
    task_status.started()
    while True:
        await drain(
            directory,
            deliver,
            retry=retry,
            ledger=ledger,
            on_delivered=on_delivered,
            malformed_grace=malformed_grace,
        )
        await trio.sleep(poll_interval)
