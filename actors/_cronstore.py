"""The durable cron job store: one JSON file per job under ``<data>/jobs/``.

Every write is atomic (temp file, fsync, rename, fsync the folder), so a
crash leaves the old or the new file, never a torn one. Every change to
``jobs/<id>.json`` happens under ``jobs/.<id>.lock``, a lock file created
with ``O_CREAT | O_EXCL`` and holding the owner's PID; that makes id allocation unique and
read-modify-write updates safe between processes (the service and the
``actors cron`` command line). The fire and delivery order that keeps a
oneshot job from firing twice is in :meth:`JobStore.fire`,
:meth:`JobStore.settle` and :meth:`JobStore.recover`; the whole argument
is written down in ``docs/_draft_durable_cron.md``.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import json
import logging
import os
import re
import secrets
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Literal, get_args

import attrs
from croniter import croniter

from ._triggerfiles import (
    JsonValue,
    MalformedTrigger,
    Trigger,
    cleanup_temp,
    format_time,
    fsync_dir,
    list_pending,
    parse_time,
    parse_trigger,
    write_atomic,
    write_trigger,
)

CatchUp = Literal["none", "once", "all"]
"""What to do about fires missed while the service was down."""

MAX_ID_LENGTH = 64
"""Longest job id accepted; slugs are cut to 48 to leave room for suffixes."""

_log = logging.getLogger("actors.cron")
_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
_SLUG_LENGTH = 48
_LOCK_TIMEOUT = 5.0
_STALE_LOCK = 30.0


class JobNotFound(KeyError):
    """No job with this id exists (it may have just been removed)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id

    def __str__(self) -> str:
        return f"no cron job with id {self.job_id!r}"


class JobExists(ValueError):
    """``add`` was given an explicit id that is already taken."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"a cron job with id {job_id!r} already exists")
        self.job_id = job_id


class InvalidJobId(ValueError):
    """An id from outside is not a slug, so it could name a path outside ``jobs/``."""


class MalformedJob(ValueError):
    """A job file fails the schema; ``list()`` skips and reports it instead."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"malformed job file {str(path)!r}: {reason}")
        self.path = path
        self.reason = reason


def validate_job_id(job_id: object) -> str:
    """Return ``job_id`` if it is a safe id: ``[a-z0-9][a-z0-9-]*``, at most 64 chars.

    Raises:
        InvalidJobId: for anything else (``../x``, ``/etc``, ``""``, ``.``, NUL...).
    """
    if (
        not isinstance(job_id, str)
        or len(job_id) > MAX_ID_LENGTH
        or _ID_RE.fullmatch(job_id) is None
    ):
        raise InvalidJobId(
            f"invalid job id {job_id!r}: use 1-{MAX_ID_LENGTH} characters from "
            "a-z, 0-9 and '-', starting with a letter or digit"
        )
    return job_id


def slugify(name: str) -> str:
    """Turn a job name into an id: ASCII, lowercase, ``-`` between words, 48 chars max."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:_SLUG_LENGTH].rstrip("-") or "job"


def validate_cron(expr: str, *, now: dt.datetime | None = None) -> None:
    """Check that ``expr`` is a croniter expression that fires at least once more.

    Raises:
        ValueError: naming the expression, e.g. for ``"0 0 31 2 *"`` (Feb 31).
    """
    if not isinstance(expr, str) or not croniter.is_valid(expr):
        raise ValueError(f"invalid cron expression {expr!r}")
    try:
        croniter(expr, now or dt.datetime.now(dt.UTC)).get_next(dt.datetime)
    except Exception:  # CroniterBadDateError and friends
        raise ValueError(f"cron expression {expr!r} never fires") from None


_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "id": str,
    "name": str,
    "cron": str,
    "target": str,
    "prompt": str,
    "oneshot": bool,
    "enabled": bool,
    "created_at": str,
}
_OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "payload": object,
    "last_fired_at": (str, type(None)),
    "metadata": dict,
    "catch_up": str,
    "heartbeat_file": (str, type(None)),
}


@attrs.frozen
class Job:
    """One scheduled job, as stored in ``jobs/<id>.json``."""

    id: str
    """Slug of the name, unique in the store; also the file name."""
    name: str
    """Human name."""
    cron: str
    """croniter expression (5 fields, or 6 with seconds last), read in UTC."""
    target: str
    """Process name or PID string the trigger is delivered to."""
    prompt: str
    """Text of the event sent on each fire."""
    created_at: dt.datetime
    """When the job was added (UTC)."""
    payload: JsonValue = None
    """Optional structured JSON payload sent with the prompt."""
    oneshot: bool = False
    """Fire once, then delete the job after that trigger is delivered."""
    enabled: bool = True
    """Disabled jobs never fire; a fired oneshot job is disabled."""
    last_fired_at: dt.datetime | None = None
    """The cron slot of the latest fire (``scheduled_for``, not wall time)."""
    metadata: dict[str, JsonValue] = attrs.field(factory=dict)
    """Free-form JSON object for callers."""
    catch_up: CatchUp = "none"
    """Policy for slots missed while down: ``none``, ``once`` or ``all``."""
    heartbeat_file: str | None = None
    """File whose text is appended to the prompt; empty or missing skips the fire."""

    def to_json(self) -> dict[str, JsonValue]:
        """Return the JSON object stored in the job file."""
        data = attrs.asdict(self, recurse=False)
        data["created_at"] = format_time(self.created_at)
        data["last_fired_at"] = self.last_fired_at and format_time(self.last_fired_at)
        return data

    @classmethod
    def from_json(cls, data: object) -> Job:
        """Build a job from a decoded JSON object, strictly.

        Raises:
            ValueError: naming the missing, unknown or mistyped field and its value.
        """
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        if unknown := sorted(data.keys() - _REQUIRED.keys() - _OPTIONAL.keys()):
            raise ValueError(f"unknown field(s) {unknown}")
        for field, kind in (_REQUIRED | _OPTIONAL).items():
            if field not in data:
                if field in _REQUIRED:
                    raise ValueError(f"missing field {field!r}")
            elif not isinstance(data[field], kind):
                raise ValueError(f"field {field!r} has the wrong type: {data[field]!r}")
        validate_job_id(data["id"])
        validate_cron(data["cron"])
        catch_up = data.get("catch_up", "none")
        if catch_up not in get_args(CatchUp):
            raise ValueError(f"field 'catch_up' must be none, once or all, got {catch_up!r}")
        last = data.get("last_fired_at")
        return cls(
            id=data["id"],
            name=data["name"],
            cron=data["cron"],
            target=data["target"],
            prompt=data["prompt"],
            created_at=parse_time(data["created_at"], "created_at"),
            payload=data.get("payload"),
            oneshot=data["oneshot"],
            enabled=data["enabled"],
            last_fired_at=None if last is None else parse_time(last, "last_fired_at"),
            metadata=data.get("metadata", {}),
            catch_up=catch_up,
            heartbeat_file=data.get("heartbeat_file"),
        )


@attrs.frozen
class Recovery:
    """What :meth:`JobStore.recover` repaired."""

    removed_files: tuple[Path, ...]
    """Temp and lock files left by crashed writers."""
    rolled_forward: tuple[str, ...]
    """Jobs whose pending trigger was written but ``last_fired_at`` was not."""
    removed_oneshots: tuple[str, ...]
    """Oneshot jobs whose trigger was delivered but which were not yet deleted."""


@attrs.define(eq=False)
class JobStore:
    """Jobs in ``<path>/jobs/``, their trigger files in ``<path>/triggers/``.

    Methods are synchronous: each reads or writes one small file (plus an
    fsync), and may wait up to 5 s for another process's lock.

    Args:
        path (Path | str): The data folder; created if missing.
    """

    path: Path = attrs.field(converter=Path)
    _reported: set[tuple[Path, str]] = attrs.field(init=False, factory=set)

    def __attrs_post_init__(self) -> None:
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.triggers_dir.mkdir(exist_ok=True)

    @property
    def jobs_dir(self) -> Path:
        """The folder of job files."""
        return self.path / "jobs"

    @property
    def triggers_dir(self) -> Path:
        """The folder of pending trigger files."""
        return self.path / "triggers"

    # ------------------------------------------------------------ CRUD

    def add(
        self,
        name: str,
        cron: str,
        target: str,
        *,
        prompt: str = "",
        payload: JsonValue = None,
        oneshot: bool = False,
        enabled: bool = True,
        metadata: dict[str, JsonValue] | None = None,
        catch_up: CatchUp = "none",
        heartbeat_file: str | None = None,
        id: str | None = None,
    ) -> Job:
        """Create a job and return it; its id is ``slugify(name)``, ``-2``, ``-3``...

        Raises:
            ValueError: for an invalid cron expression, target or catch_up.
            InvalidJobId: if ``id`` is given and is not a safe slug.
            JobExists: if ``id`` is given and taken.
        """
        validate_cron(cron)
        if not target:
            raise ValueError("target must be a non-empty string")
        job = Job.from_json(
            Job(
                id=validate_job_id(id) if id is not None else slugify(name),
                name=name,
                cron=cron,
                target=target,
                prompt=prompt,
                created_at=dt.datetime.now(dt.UTC),
                payload=payload,
                oneshot=oneshot,
                enabled=enabled,
                metadata=dict(metadata or {}),
                catch_up=catch_up,
                heartbeat_file=heartbeat_file,
            ).to_json()
        )  # the round trip applies the load-time schema to what we store
        if id is not None:
            with self._lock(id):
                if self._file(id).exists():
                    raise JobExists(id)
                self._write(job)
            return job
        for candidate in self._candidates(job.id):
            with self._lock(candidate, wait=False) as locked:
                if locked and not self._file(candidate).exists():
                    job = attrs.evolve(job, id=candidate)
                    self._write(job)
                    return job
        raise AssertionError("unreachable: random ids exhausted")  # pragma: no cover

    def get(self, job_id: str) -> Job:
        """Return the job with this id.

        Raises:
            JobNotFound: no such job.
            MalformedJob: its file fails the schema.
        """
        return self._read(validate_job_id(job_id))

    def list(self) -> list[Job]:
        """Return every well-formed job, sorted by id; malformed files are logged and skipped."""
        jobs, problems = self._scan()
        for path, reason in problems:
            if (path, reason) not in self._reported:
                self._reported.add((path, reason))
                _log.error("cron job skipped file=%s reason=%s", path, reason)
        return jobs

    def load_problems(self) -> builtins.list[tuple[Path, str]]:
        """Return ``(path, reason)`` for every job file that ``list()`` skips."""
        return self._scan()[1]

    def remove(self, job_id: str) -> Job:
        """Delete a job and return it, or raise :class:`JobNotFound`."""
        with self._lock(validate_job_id(job_id)):
            job = self._read(job_id)
            self._file(job_id).unlink()
            fsync_dir(self.jobs_dir)
        return job

    def enable(self, job_id: str) -> Job:
        """Enable a job; a oneshot job that already fired cannot be enabled again."""
        with self._lock(validate_job_id(job_id)):
            job = self._read(job_id)
            if job.oneshot and job.last_fired_at is not None:
                raise ValueError(
                    f"oneshot job {job_id!r} already fired for "
                    f"{format_time(job.last_fired_at)}; add a new job instead"
                )
            return self._write(attrs.evolve(job, enabled=True))

    def disable(self, job_id: str) -> Job:
        """Disable a job so it no longer fires."""
        with self._lock(validate_job_id(job_id)):
            return self._write(attrs.evolve(self._read(job_id), enabled=False))

    def mark_fired(self, job_id: str, at: dt.datetime) -> Job:
        """Record ``at`` as the latest fired slot; a oneshot job is also disabled."""
        with self._lock(validate_job_id(job_id)):
            job = self._read(job_id)
            return self._write(_fired(job, at))

    # ------------------------------------------------ fire and delivery

    def fire(
        self, job_id: str, scheduled_for: dt.datetime, *, now: dt.datetime | None = None
    ) -> Path | None:
        """Fire one slot of a job: write its trigger file, then record the fire.

        Under the job's lock, in this order: re-read the job (skip if it is
        disabled, a fired oneshot, or already fired for this slot or a later
        one); write the trigger file; write the job with ``last_fired_at =
        scheduled_for`` (and ``enabled = False`` for a oneshot). A crash
        between the two writes is repaired by :meth:`recover`.

        Returns:
            Path | None: The trigger file, or None when the fire was skipped
            (including a heartbeat job whose file is missing or blank).
        """
        with self._lock(validate_job_id(job_id)):
            job = self._read(job_id)
            last = job.last_fired_at
            if not job.enabled or (last is not None and (job.oneshot or scheduled_for <= last)):
                return None
            prompt = job.prompt
            if job.heartbeat_file is not None:
                try:
                    extra = (self.path / job.heartbeat_file).read_text().strip()
                except (OSError, UnicodeDecodeError):
                    extra = ""
                if not extra:
                    _log.info("heartbeat skipped job=%s file=%s", job.id, job.heartbeat_file)
                    return None
                prompt = f"{prompt}\n\n---\n\n{extra}" if prompt else extra
            trigger = Trigger(
                target=job.target,
                prompt=prompt,
                payload=job.payload,
                job_id=job.id,
                fired_at=now or dt.datetime.now(dt.UTC),
                scheduled_for=scheduled_for,
            )
            path = write_trigger(self.triggers_dir, trigger)
            self._write(_fired(job, scheduled_for))
            return path

    def settle(self, trigger: Trigger) -> None:
        """Finish a delivered trigger: delete its oneshot job if this trigger fired it.

        Call after the trigger file was removed (``drain(on_delivered=...)``).
        """
        if trigger.job_id is None or _ID_RE.fullmatch(trigger.job_id) is None:
            return
        with self._lock(trigger.job_id):
            try:
                job = self._read(trigger.job_id)
            except (JobNotFound, MalformedJob):
                return
            fired = job.oneshot and job.last_fired_at is not None and not job.enabled
            if fired and trigger.scheduled_for == job.last_fired_at:
                self._file(job.id).unlink()
                fsync_dir(self.jobs_dir)

    def recover(self, *, older_than: float = 60.0) -> Recovery:
        """Repair what a crash can leave; call once at service start, before firing.

        Removes temp files older than ``older_than`` seconds and lock files
        whose owner process is dead (or older than that); rolls
        ``last_fired_at`` forward (and disables oneshot jobs) from pending
        trigger files whose fire was not recorded; deletes fired oneshot
        jobs with no pending trigger (delivered, then crashed before delete).
        """
        removed = cleanup_temp(self.jobs_dir, older_than=older_than)
        removed += cleanup_temp(self.triggers_dir, older_than=older_than)
        for lock in self.jobs_dir.glob(".*.lock"):
            if _lock_is_stale(lock, older_than):
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
                    removed.append(lock)
        pending: set[str] = set()
        latest: dict[str, dt.datetime] = {}
        for path in list_pending(self.triggers_dir):
            with contextlib.suppress(MalformedTrigger, FileNotFoundError):
                trigger = parse_trigger(path)
                if trigger.job_id is None or _ID_RE.fullmatch(trigger.job_id) is None:
                    continue
                pending.add(trigger.job_id)
                if (when := trigger.scheduled_for) is not None:
                    latest[trigger.job_id] = max(when, latest.get(trigger.job_id, when))
        rolled, deleted = [], []
        for job in self.list():
            at = latest.get(job.id)
            if job.id not in pending:
                if job.oneshot and job.last_fired_at is not None and not job.enabled:
                    with contextlib.suppress(JobNotFound):
                        self.remove(job.id)
                        deleted.append(job.id)
            elif at is not None and (job.last_fired_at is None or job.last_fired_at < at):
                self.mark_fired(job.id, at)
                rolled.append(job.id)
        return Recovery(tuple(removed), tuple(rolled), tuple(deleted))

    # ------------------------------------------------------- internals

    def _file(self, job_id: str) -> Path:
        return self.jobs_dir / f"{job_id}.json"

    def _read(self, job_id: str) -> Job:
        path = self._file(job_id)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise JobNotFound(job_id) from None
        job = _decode(path, raw)
        if job.id != job_id:
            raise MalformedJob(path, f"field 'id' is {job.id!r} but the file is for {job_id!r}")
        return job

    def _write(self, job: Job) -> Job:
        data = json.dumps(job.to_json(), indent=2, sort_keys=True) + "\n"
        write_atomic(self._file(job.id), data.encode())
        return job

    def _scan(self) -> tuple[builtins.list[Job], builtins.list[tuple[Path, str]]]:
        jobs, problems = [], []
        for path in sorted(self.jobs_dir.glob("*.json")):
            if path.name.startswith("."):
                continue
            try:
                jobs.append(self._read(path.stem))
            except JobNotFound:
                continue  # removed while we listed
            except MalformedJob as exc:
                problems.append((path, exc.reason))
            except InvalidJobId as exc:  # pragma: no cover - _read never raises it
                problems.append((path, str(exc)))
        return jobs, problems

    def _candidates(self, slug: str) -> Iterator[str]:
        yield slug
        for n in range(2, 1000):
            yield f"{slug}-{n}"
        while True:
            yield f"{slug}-{secrets.token_hex(4)}"

    @contextlib.contextmanager
    def _lock(self, job_id: str, *, wait: bool = True) -> Iterator[bool]:
        """Hold ``jobs/.<id>.lock``; yields False at once if ``wait`` is off and it is held."""
        lock = self.jobs_dir / f".{job_id}.lock"
        deadline = time.monotonic() + _LOCK_TIMEOUT
        while True:
            try:
                fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if _lock_is_stale(lock, _STALE_LOCK):
                    with contextlib.suppress(FileNotFoundError):
                        lock.unlink()  # left by a crashed process
                    continue
                if not wait:
                    yield False
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"cron job lock {str(lock)!r} held for over {_LOCK_TIMEOUT:g} s"
                    ) from None
                time.sleep(0.002)
            else:
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                break
        try:
            yield True
        finally:
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()


def _lock_is_stale(lock: Path, older_than: float) -> bool:
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


def _fired(job: Job, at: dt.datetime) -> Job:
    return attrs.evolve(job, last_fired_at=at, enabled=job.enabled and not job.oneshot)


def _decode(path: Path, raw: bytes) -> Job:
    if not raw.strip():
        raise MalformedJob(path, "file is empty")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedJob(path, f"not valid JSON: {exc}") from None
    try:
        return Job.from_json(data)
    except ValueError as exc:
        raise MalformedJob(path, str(exc)) from None
