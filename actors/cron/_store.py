"""The durable cron job store: one JSON file per job under ``<data>/jobs/``.

Every write is atomic (``_atomicfs.write_atomic``), so a crash leaves the
old or the new file, never a torn one. Every change to ``jobs/<id>.json``
happens under ``jobs/.<id>.lock`` (``_atomicfs.file_lock``); that makes id
allocation unique and read-modify-write updates safe between processes (the
service and the ``actors cron`` command line). The fire and delivery order
that keeps a oneshot job from firing twice is in :meth:`JobStore.fire`,
:meth:`JobStore.settle` and :meth:`JobStore.recover`; the whole argument is
written down in ``docs/semantics.md`` ("Durable cron").
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import errno
import logging
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from ._atomicfs import file_lock, fsync_dir, read_bounded, write_atomic
from ._job import (
    ID_RE,
    MAX_ID_LENGTH,
    CatchUp,
    InvalidJobId,
    Job,
    JobExists,
    JobNotFound,
    MalformedJob,
    check_job,
    decode_job,
    encode_job,
    read_heartbeat,
    slugify,
    validate_cron,
    validate_job_id,
)
from ._recover import Recovery, Repair, recovery_steps, run_steps, run_steps_async
from ._triggerfiles import JsonValue, Trigger, format_time, write_trigger

__all__ = [
    "MAX_ID_LENGTH",
    "CatchUp",
    "InvalidJobId",
    "Job",
    "JobExists",
    "JobNotFound",
    "JobStore",
    "MalformedJob",
    "slugify",
    "validate_cron",
    "validate_job_id",
]

_log = logging.getLogger("actors.cron")
_LOCK_TIMEOUT = 5.0
_STALE_LOCK = 30.0
_UPDATABLE = frozenset(
    {"name", "cron", "target", "prompt", "payload", "metadata", "catch_up", "heartbeat_file"}
)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.define(eq=False)
class JobStore:
    """Jobs in ``<path>/jobs/``, their trigger files in ``<path>/triggers/``.

    Methods are synchronous: each reads or writes one small file (plus an
    fsync), and may wait up to 5 s for another process's lock.

    Args:
        path (Path | str): The data folder; created if missing.
        clock (Callable[[], datetime]): Wall clock for ``created_at`` and
            ``fired_at`` (aware UTC); tests inject a fake one.
    """

    path: Path = attrs.field(converter=Path)
    clock: Callable[[], dt.datetime] = attrs.field(default=_utc_now, kw_only=True)
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

        Args:
            name (str): The human name; the id is made from it when ``id`` is None.
            cron (str): The schedule: a cron expression (5 fields, or 6 with seconds last),
                ``CRON_TZ=ZONE EXPR`` or ``@every DURATION``; it must fire at least once.
            target (str): The process name or PID string each trigger is delivered to.
            prompt (str): The text of the event sent on each fire.
            payload (JsonValue): A JSON value sent with the prompt.
            oneshot (bool): Fire once, then delete the job once that trigger is delivered.
            enabled (bool): Whether the job fires; a disabled job is kept but never fires.
            metadata (dict[str, JsonValue] | None): A free-form JSON object for callers.
            catch_up (CatchUp): Slots missed while no service ran: ``"none"`` (skip them),
                ``"once"`` (fire the latest) or ``"all"`` (fire each).
            heartbeat_file (str | None): A path inside the data folder whose text is appended
                to the prompt; a fire is skipped while it is missing or blank.
            id (str | None): An explicit id (``[a-z0-9][a-z0-9-]*``, at most 64 characters);
                None derives it from ``name`` (``slug``, ``slug-2``, ``slug-3``...).

        Raises:
            ValueError: For an invalid cron expression, target, catch_up or heartbeat file,
                a payload or metadata that is not JSON (or nested too deep), or a job over
                256 KiB as JSON.
            InvalidJobId: If ``id`` is given and is not a safe slug.
            JobExists: If ``id`` is given and taken.
            TimeoutError: If ``id`` is given and another process held its lock for 5 s.
        """
        validate_cron(cron)
        if not target or not isinstance(target, str):
            raise ValueError(f"target must be a non-empty string, got {target!r}")
        job = check_job(
            Job(
                id=validate_job_id(id) if id is not None else slugify(name),
                name=name,
                cron=cron,
                target=target,
                prompt=prompt,
                created_at=self.clock(),
                payload=payload,
                oneshot=oneshot,
                enabled=enabled,
                metadata=dict(metadata or {}),
                catch_up=catch_up,
                heartbeat_file=heartbeat_file,
            )
        )
        if id is not None:
            with self._lock(id):
                if self._file(id).exists():
                    raise JobExists(id)
                return self._write(job)
        for candidate in self._candidates(job.id):
            with self._lock(candidate, wait=False) as locked:
                if locked and not self._file(candidate).exists():
                    return self._write(attrs.evolve(job, id=candidate))
        raise AssertionError("unreachable: random ids exhausted")  # pragma: no cover

    def get(self, job_id: str) -> Job:
        """Return the job with this id.

        Args:
            job_id (str): The job's id.

        Raises:
            InvalidJobId: If ``job_id`` is not a safe slug.
            JobNotFound: If there is no such job.
            MalformedJob: If its file fails the schema.
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

    def update(self, job_id: str, **changes: Any) -> Job:
        """Change some fields of a job (name, cron, target, prompt, payload, metadata,
        catch_up, heartbeat_file) and return it.

        Args:
            job_id (str): The job's id.
            **changes (Any): New values by field name (``name``, ``cron``, ``target``,
                ``prompt``, ``payload``, ``metadata``, ``catch_up``, ``heartbeat_file``).

        Raises:
            ValueError: For a field that cannot be changed or a bad value.
            InvalidJobId: If ``job_id`` is not a safe slug.
            JobNotFound: If there is no such job.
            MalformedJob: If its file fails the schema.
            TimeoutError: If another process held the job's lock for 5 s.
        """
        if bad := sorted(changes.keys() - _UPDATABLE):
            raise ValueError(f"cannot update field(s) {bad}; allowed: {sorted(_UPDATABLE)}")
        with self._lock(validate_job_id(job_id)):
            job = attrs.evolve(self._read(job_id), **changes)
            return self._write(check_job(job))

    def remove(self, job_id: str) -> Job:
        """Delete a job and return it, or raise :class:`JobNotFound`.

        Args:
            job_id (str): The job's id.

        Raises:
            InvalidJobId: If ``job_id`` is not a safe slug.
            JobNotFound: If there is no such job.
            MalformedJob: If its file fails the schema.
            TimeoutError: If another process held the job's lock for 5 s.
        """
        with self._lock(validate_job_id(job_id)):
            job = self._read(job_id)
            self._file(job_id).unlink()
            fsync_dir(self.jobs_dir)
        return job

    def enable(self, job_id: str) -> Job:
        """Enable a job and return it; a oneshot job that already fired cannot be enabled again.

        Args:
            job_id (str): The job's id.

        Raises:
            ValueError: If it is a oneshot job that already fired.
            InvalidJobId: If ``job_id`` is not a safe slug.
            JobNotFound: If there is no such job.
            MalformedJob: If its file fails the schema.
            TimeoutError: If another process held the job's lock for 5 s.
        """
        with self._lock(validate_job_id(job_id)):
            job = self._read(job_id)
            if job.oneshot and job.last_fired_at is not None:
                raise ValueError(
                    f"oneshot job {job_id!r} already fired for "
                    f"{format_time(job.last_fired_at)}; add a new job instead"
                )
            return self._write(attrs.evolve(job, enabled=True))

    def disable(self, job_id: str) -> Job:
        """Disable a job so it no longer fires, and return it.

        Args:
            job_id (str): The job's id.

        Raises:
            InvalidJobId: If ``job_id`` is not a safe slug.
            JobNotFound: If there is no such job.
            MalformedJob: If its file fails the schema.
            TimeoutError: If another process held the job's lock for 5 s.
        """
        with self._lock(validate_job_id(job_id)):
            return self._write(attrs.evolve(self._read(job_id), enabled=False))

    def record_failure(self, job_id: str) -> Job:
        """Count one more dead-lettered trigger of a job (shown by ``actors cron list``).

        Args:
            job_id (str): The job's id.

        Returns:
            Job: The job with ``failures`` one higher.

        Raises:
            InvalidJobId: If ``job_id`` is not a safe slug.
            JobNotFound: If there is no such job.
            MalformedJob: If its file fails the schema.
            TimeoutError: If another process held the job's lock for 5 s.
        """
        with self._lock(validate_job_id(job_id)):
            job = self._read(job_id)
            return self._write(attrs.evolve(job, failures=job.failures + 1))

    def mark_fired(self, job_id: str, at: dt.datetime) -> Job:
        """Record ``at`` as the latest fired slot; a oneshot job is also disabled.

        Args:
            job_id (str): The job's id.
            at (datetime): The cron slot fired (aware), stored as ``last_fired_at``.

        Returns:
            Job: The job as written.

        Raises:
            InvalidJobId: If ``job_id`` is not a safe slug.
            JobNotFound: If there is no such job.
            MalformedJob: If its file fails the schema.
            TimeoutError: If another process held the job's lock for 5 s.
        """
        with self._lock(validate_job_id(job_id)):
            return self._write(_fired(self._read(job_id), at))

    # ------------------------------------------------ fire and delivery

    def fire(
        self,
        job_id: str,
        scheduled_for: dt.datetime,
        *,
        now: dt.datetime | None = None,
        wait: bool = True,
    ) -> Path | None:
        """Fire one slot of a job: write its trigger file, then record the fire.

        Under the job's lock, in this order: re-read the job (skip if it is
        disabled, a fired oneshot, or already fired for this slot or a later
        one); write the trigger file; write the job with ``last_fired_at =
        scheduled_for`` (and ``enabled = False`` for a oneshot). A crash
        between the two writes is repaired by :meth:`recover`.

        Args:
            job_id (str): The job's id.
            scheduled_for (datetime): The cron slot fired (aware); the trigger's
                ``scheduled_for`` and then the job's ``last_fired_at``.
            now (datetime | None): The trigger's ``fired_at``; None reads the store's clock.
            wait (bool): Whether to wait (up to 5 s) while another process
                holds the job's lock; if False, raise ``BlockingIOError`` at
                once instead (an event loop must not sleep in ``time.sleep``).

        Returns:
            Path | None: The trigger file, or None when the fire was skipped
            (including a heartbeat job whose file is missing or blank).

        Raises:
            InvalidJobId: If ``job_id`` is not a safe slug.
            JobNotFound: If the job was removed.
            MalformedJob: If its file fails the schema.
            BlockingIOError: If ``wait`` is False and the lock is held.
            TimeoutError: If ``wait`` is True and the lock was held for 5 s.
        """
        with self._lock(validate_job_id(job_id), wait=wait) as locked:
            if not locked:
                held = f"job {job_id!r} is locked by another process"
                raise BlockingIOError(errno.EWOULDBLOCK, held)
            job = self._read(job_id)
            last = job.last_fired_at
            if not job.enabled or (last is not None and (job.oneshot or scheduled_for <= last)):
                return None
            prompt = job.prompt
            if job.heartbeat_file is not None:
                extra = read_heartbeat(self.path, job)
                if not extra:
                    _log.info("heartbeat skipped job=%s file=%s", job.id, job.heartbeat_file)
                    return None
                prompt = f"{prompt}\n\n---\n\n{extra}" if prompt else extra
            trigger = Trigger(
                target=job.target,
                prompt=prompt,
                payload=job.payload,
                job_id=job.id,
                job_name=job.name,
                fired_at=now or self.clock(),
                scheduled_for=scheduled_for,
            )
            path = write_trigger(self.triggers_dir, trigger)
            self._write(_fired(job, scheduled_for))
            return path

    def settle(self, trigger: Trigger) -> None:
        """Finish a delivered trigger: delete its oneshot job if this trigger fired it.

        Call after the trigger file was removed (``drain(on_delivered=...)``). A trigger of
        no job, of a job that is gone or malformed, or of an older slot is ignored.

        Args:
            trigger (Trigger): The delivered trigger (its ``job_id`` and ``scheduled_for``).

        Raises:
            TimeoutError: If another process held the job's lock for 5 s.
        """
        if trigger.job_id is None or ID_RE.fullmatch(trigger.job_id) is None:
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
        It reads every pending trigger file: on an event loop, use
        :meth:`recover_async`.

        Args:
            older_than (float): Seconds after which a temp file or a lock file is
                considered abandoned.

        Returns:
            Recovery: What was removed, rolled forward and deleted.

        Raises:
            TimeoutError: If another process held a job's lock for 5 s.
            OSError: If a file cannot be removed or written.
        """
        return run_steps(recovery_steps(self, older_than=older_than))

    async def recover_async(self, *, older_than: float = 60.0) -> Recovery:
        """Do what :meth:`recover` does without holding the trio event loop.

        The work is cut into steps of about 5 ms with a checkpoint between them, so a
        backlog of 100,000 trigger files costs the node's other processes nothing but
        CPU share; a job lock held by another program is waited for with ``trio.sleep``.
        Cancelling it stops between two steps and leaves a consistent folder (run it
        again).

        Args:
            older_than (float): Seconds after which a temp file or a lock file is
                considered abandoned.

        Returns:
            Recovery: What was removed, rolled forward and deleted.

        Raises:
            TimeoutError: If another process held a job's lock for 5 s.
            OSError: If a file cannot be removed or written.
        """
        return await run_steps_async(recovery_steps(self, older_than=older_than))

    def _repair_nowait(self, job_id: str, pending: bool, latest: dt.datetime | None) -> Repair:
        """Repair one job for :meth:`recover`, under its lock, without waiting for it.

        Args:
            job_id (str): The job's id (a safe slug).
            pending (bool): Whether a pending trigger file names the job.
            latest (datetime | None): The latest ``scheduled_for`` of those files.

        Returns:
            Repair: ``"rolled"`` if ``last_fired_at`` was rolled forward to ``latest``,
            ``"removed"`` if a fired oneshot job with no pending trigger was deleted,
            None if nothing was done (also for a job gone or malformed).

        Raises:
            BlockingIOError: If another process holds the job's lock.
        """
        with self._lock(job_id, wait=False) as locked:
            if not locked:
                raise BlockingIOError(errno.EWOULDBLOCK, f"job {job_id!r} is locked")
            try:
                job = self._read(job_id)
            except (JobNotFound, MalformedJob):
                return None
            last = job.last_fired_at
            if not pending:
                if not (job.oneshot and last is not None and not job.enabled):
                    return None
                self._file(job_id).unlink()
                fsync_dir(self.jobs_dir)
                return "removed"
            if latest is None or (last is not None and last >= latest):
                return None
            self._write(_fired(job, latest))
            return "rolled"

    # ------------------------------------------------------- internals

    def _file(self, job_id: str) -> Path:
        return self.jobs_dir / f"{job_id}.json"

    def _read(self, job_id: str) -> Job:
        path = self._file(job_id)
        try:
            raw = read_bounded(path)
        except FileNotFoundError:
            raise JobNotFound(job_id) from None
        except ValueError as exc:  # a folder, FIFO or symlink loop, unreadable or over 1 MiB
            raise MalformedJob(path, str(exc)) from None
        job = decode_job(path, raw)
        if job.id != job_id:
            raise MalformedJob(path, f"field 'id' is {job.id!r} but the file is for {job_id!r}")
        return job

    def _write(self, job: Job) -> Job:
        write_atomic(self._file(job.id), encode_job(job))
        return job

    def _scan(self) -> tuple[builtins.list[Job], builtins.list[tuple[Path, str]]]:
        jobs, problems = [], []
        for path in sorted(self.jobs_dir.glob("*.json"), key=lambda p: p.stem):
            if path.name.startswith("."):
                continue
            try:
                jobs.append(self._read(path.stem))
            except JobNotFound:
                continue  # removed while we listed
            except MalformedJob as exc:
                problems.append((path, exc.reason))
        return jobs, problems

    def _candidates(self, slug: str) -> Iterator[str]:
        yield slug
        for n in range(2, 1000):
            yield f"{slug}-{n}"
        while True:
            yield f"{slug}-{secrets.token_hex(4)}"

    def _lock(self, job_id: str, *, wait: bool = True) -> contextlib.AbstractContextManager[bool]:
        """Hold ``jobs/.<id>.lock``; yields False at once if ``wait`` is off and it is held."""
        lock = self.jobs_dir / f".{job_id}.lock"
        return file_lock(lock, wait=wait, timeout=_LOCK_TIMEOUT, stale_after=_STALE_LOCK)


def _fired(job: Job, at: dt.datetime) -> Job:
    return attrs.evolve(job, last_fired_at=at, enabled=job.enabled and not job.oneshot)
