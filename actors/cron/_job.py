"""The cron job record: its JSON schema, safe ids and validation.

One job is one file, ``<data>/jobs/<id>.json``. Loading is strict: a
missing, unknown or mistyped field makes the whole file malformed, reported
with the field and value (the store skips it and keeps the other jobs).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import unicodedata
from pathlib import Path
from typing import Literal, get_args
from zoneinfo import ZoneInfo

import attrs

from ._atomicfs import decode_json, json_depth_error, read_bounded
from ._schedule import schedule_trigger
from ._triggerfiles import JsonValue, check_target, format_time, parse_time

CatchUp = Literal["none", "once", "all"]
"""What to do about fires missed while the service was down."""

MAX_JOB_BYTES = 256 * 1024
"""Largest job file ``add`` and ``update`` write (readers accept up to 1 MiB)."""

MAX_ID_LENGTH = 64
"""Longest job id accepted; slugs are cut to 48 to leave room for suffixes."""

ID_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
_log = logging.getLogger("actors.cron")
_SLUG_LENGTH = 48
_UTC = ZoneInfo("UTC")


class JobNotFound(KeyError):
    """No job with this id exists (it may have just been removed).

    Args:
        job_id (str): The id asked for (kept as ``job_id``).
    """

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id

    def __str__(self) -> str:
        return f"no cron job with id {self.job_id!r}"


class JobExists(ValueError):
    """``add`` was given an explicit id that is already taken.

    Args:
        job_id (str): The id taken (kept as ``job_id``).
    """

    def __init__(self, job_id: str) -> None:
        super().__init__(f"a cron job with id {job_id!r} already exists")
        self.job_id = job_id


class InvalidJobId(ValueError):
    """An id from outside is not a slug, so it could name a path outside ``jobs/``."""


class MalformedJob(ValueError):
    """A job file fails the schema; ``list()`` skips and reports it instead.

    Args:
        path (Path): The offending file.
        reason (str): What is wrong, naming the field and value.
    """

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"malformed job file {str(path)!r}: {reason}")
        self.path = path
        self.reason = reason


def validate_job_id(job_id: object) -> str:
    """Return ``job_id`` if it is a safe id: ``[a-z0-9][a-z0-9-]*``, at most 64 chars.

    Raises:
        InvalidJobId: for anything else (``../x``, ``/etc``, ``""``, ``.``, NUL...).
    """
    if not isinstance(job_id, str) or len(job_id) > MAX_ID_LENGTH or not ID_RE.fullmatch(job_id):
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


def validate_cron(expr: object) -> str:
    """Return ``expr`` if it is a schedule that fires: a cron expression (``CronTrigger``
    syntax), ``CRON_TZ=ZONE EXPR`` or ``@every DURATION [start=ISO] [jitter=DURATION]``
    (see ``_schedule.py``).

    Raises:
        ValueError: naming the expression and the problem, e.g. for
            ``"0 0 31 2 *"``: "day 31 never occurs in February".
    """
    if not isinstance(expr, str):
        raise ValueError(f"invalid cron expression {str(expr)[:80]!r}: not a string")
    schedule_trigger(expr, _UTC, hash_id="validate", created_at=dt.datetime.now(dt.UTC))
    return expr


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
    "failures": int,
}


def check_heartbeat_file(value: str | None) -> str | None:
    """Return a heartbeat path if it is relative and stays inside the data folder.

    Raises:
        ValueError: for an absolute path or one with ``..`` parts.
    """
    if value is None:
        return None
    parts = Path(value).parts
    if not value or Path(value).is_absolute() or ".." in parts or "\x00" in value:
        raise ValueError(
            f"field 'heartbeat_file' must be a path inside the data folder, got {value!r}"
        )
    return value


@attrs.frozen
class Job:
    """One scheduled job, as stored in ``jobs/<id>.json``."""

    id: str
    """Slug of the name, unique in the store; also the file name."""
    name: str
    """Human name."""
    cron: str
    """The schedule: a cron expression (5 fields, or 6 with seconds last) read in the
    service's zone, ``CRON_TZ=ZONE EXPR`` for a zone of its own, or ``@every DURATION``
    (see ``_schedule.py``)."""
    target: str
    """Process name or PID string the trigger is delivered to."""
    prompt: str
    """Text of the event sent on each fire."""
    created_at: dt.datetime
    """When the job was added (UTC); fires are planned from here until the first one."""
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
    """File (relative to the data folder) appended to the prompt; empty or missing skips."""
    failures: int = 0
    """Triggers of this job given up as dead letters (after the retry limit), ever."""

    def to_json(self) -> dict[str, JsonValue]:
        """Return the JSON object stored in the job file."""
        data = attrs.asdict(self, recurse=False)
        data["created_at"] = format_time(self.created_at)
        data["last_fired_at"] = self.last_fired_at and format_time(self.last_fired_at)
        return data

    @classmethod
    def from_json(cls, data: object) -> Job:
        """Build a job from a decoded JSON object, strictly.

        Args:
            data (object): The decoded JSON (the job file's contents, or ``to_json()``).

        Raises:
            ValueError: Naming the missing, unknown or mistyped field and its value (also an
                invalid id, cron expression, target or time, or JSON nested too deep).
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
        if not data["target"]:
            raise ValueError("field 'target' must be a non-empty string")
        check_target(data["target"])
        for field in ("payload", "metadata"):
            if (problem := json_depth_error(data.get(field))) is not None:
                raise ValueError(f"field {field!r} is {problem}")
        catch_up = data.get("catch_up", "none")
        if catch_up not in get_args(CatchUp):
            raise ValueError(f"field 'catch_up' must be none, once or all, got {catch_up!r}")
        failures = data.get("failures", 0)
        if type(failures) is not int or not 0 <= failures < 2**53:
            raise ValueError(f"field 'failures' must be an integer >= 0, got {failures!r}")
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
            heartbeat_file=check_heartbeat_file(data.get("heartbeat_file")),
            failures=failures,
        )


def encode_job(job: Job) -> bytes:
    """Return the bytes of a job file (pretty JSON, sorted keys, final newline)."""
    return (json.dumps(job.to_json(), indent=2, sort_keys=True) + "\n").encode()


def check_job(job: Job) -> Job:
    """Return ``job`` after a round trip through the load-time schema and the size limit.

    Raises:
        ValueError: naming the field that fails the schema, a payload or metadata
            that is not JSON, or a job over :data:`MAX_JOB_BYTES` as JSON.
    """
    job = Job.from_json(job.to_json())
    try:
        size = len(encode_job(job))
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"job {job.id!r}: payload or metadata is not JSON: {exc}") from None
    if size > MAX_JOB_BYTES:
        raise ValueError(
            f"job {job.id!r} is {size} bytes as JSON, over the limit of {MAX_JOB_BYTES}"
        )
    return job


def decode_job(path: Path, raw: bytes) -> Job:
    """Parse the bytes of a job file.

    Raises:
        MalformedJob: naming the file and the problem.
    """
    try:
        return Job.from_json(decode_json(raw))
    except (ValueError, RecursionError, OverflowError) as exc:
        raise MalformedJob(path, str(exc) or type(exc).__name__) from None


def read_heartbeat(data_dir: Path, job: Job) -> str:
    """Return the stripped text of a job's heartbeat file; "" if missing, blank or unusable.

    A file that is not a regular file, over 1 MiB or not UTF-8 is logged as an
    error naming the job and the file (never read: a FIFO would block).
    """
    assert job.heartbeat_file is not None
    try:
        return read_bounded(data_dir / job.heartbeat_file).decode().strip()
    except FileNotFoundError:
        return ""
    except (ValueError, OSError) as exc:  # UnicodeDecodeError is a ValueError
        _log.error("heartbeat unreadable job=%s file=%s error=%s", job.id, job.heartbeat_file, exc)
        return ""
