"""A job's schedule text: a cron expression, in a zone of its own or not, or an interval.

The ``cron`` field of a job (file or PostgreSQL row) holds one of:

- ``EXPR``: a cron expression (5 fields, or 6 with seconds last), read in the service's zone;
- ``CRON_TZ=ZONE EXPR``: the same, read in the IANA zone ``ZONE`` (the prefix of Vixie cron
  and Kubernetes CronJobs), whatever the service's zone. DST follows :class:`CronTrigger`: a
  wall time skipped by a spring-forward gap fires at the first instant after it, a repeated
  one fires once;
- ``@every DURATION [start=ISO] [jitter=DURATION]``: every ``DURATION`` of elapsed time
  (``90s``, ``1h30m``; 1 s to 3660 days), from ``start`` (default: when the job was added),
  so slots are ``start + k * DURATION`` and never drift; DST does not apply. ``jitter``
  moves every slot of the job by the same delay in ``[0, jitter]``, derived from the job id
  (systemd's ``RandomizedDelaySec`` with ``FixedRandomDelay``): jobs added together spread out
  and a job keeps its phase across restarts. ``jitter`` must be shorter than the interval.

:func:`format_schedule` builds the text the CLI stores (``--tz``, ``--every``, ``--start``,
``--jitter``); :func:`job_trigger` turns a job into the trigger the schedulers plan with
``plan_catch_up``, so catch-up and misfire rules are the same for every kind.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .._scheduling._cron import CronTrigger
from .._scheduling._triggers import IntervalTrigger
from .._time._duration import parse_duration
from ._triggerfiles import format_time, parse_time

__all__ = ["MAX_SCHEDULE", "format_schedule", "job_zone", "schedule_trigger"]

MAX_SCHEDULE = 300
"""Longest schedule text accepted (a cron expression alone is at most 256)."""

MIN_EVERY = dt.timedelta(seconds=1)
MAX_EVERY = dt.timedelta(days=3660)
_TZ_RE = re.compile(r"CRON_TZ=(\S+)\s+(\S.*)", re.DOTALL)
_EVERY_RE = re.compile(r"@every\s+(\S+)((?:\s+[a-z]+=\S+)*)\s*")
_OPTIONS = ("start", "jitter")


def _zone(name: str, what: str) -> ZoneInfo:
    try:
        if not name or len(name) > 64 or "\x00" in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"{what}: unknown time zone {name[:80]!r}; use an IANA name such as 'Europe/Berlin'"
        ) from None


def _duration(text: str, what: str) -> dt.timedelta:
    seconds = parse_duration(text)  # ValueError names the text
    if seconds < 0:
        raise ValueError(f"{what} must not be negative, got {text!r}")
    return dt.timedelta(seconds=seconds)


def _every(text: str, what: str) -> dt.timedelta:
    period = _duration(text, what)
    if not MIN_EVERY <= period <= MAX_EVERY:
        raise ValueError(f"{what} must be from 1s to 3660 days, got {text!r}")
    return period


def format_schedule(
    cron: str | None = None,
    *,
    tz: str | None = None,
    every: str | None = None,
    start: str | None = None,
    jitter: str | None = None,
) -> str:
    """Return the schedule text for the CLI's options, checked (see the module docs).

    Raises:
        ValueError: naming the option and value (``--cron``, ``--tz``, ``--every``,
            ``--start``, ``--jitter``), or a combination that does not go together.
    """
    if (cron is None) == (every is None):
        raise ValueError("give one of --cron EXPR and --every DURATION")
    if cron is not None:
        if start is not None or jitter is not None:
            raise ValueError("--start and --jitter go with --every, not --cron")
        text = cron if tz is None else f"CRON_TZ={_zone(tz, '--tz').key} {cron}"
    else:
        assert every is not None
        if tz is not None:
            raise ValueError("--tz goes with --cron: an --every interval is elapsed time")
        _every(every, "--every")
        parts = [f"@every {every.strip()}"]
        if start is not None:
            parts.append(f"start={format_time(_start(start, '--start'))}")
        if jitter is not None:
            _duration(jitter, "--jitter")
            parts.append(f"jitter={jitter.strip()}")
        text = " ".join(parts)
    schedule_trigger(text, ZoneInfo("UTC"), hash_id="check", created_at=dt.datetime.now(dt.UTC))
    return text


def _start(text: str, what: str) -> dt.datetime:
    try:
        return parse_time(text, what)
    except ValueError as exc:
        raise ValueError(
            f"{exc} (use an ISO 8601 time with a zone, e.g. 2030-01-01T09:00Z)"
        ) from None


def job_zone(text: str, default: ZoneInfo) -> ZoneInfo:
    """The zone a schedule's cron expression is read in: its ``CRON_TZ`` or ``default``."""
    match = _TZ_RE.fullmatch(text)
    return default if match is None else _zone(match.group(1), "CRON_TZ")


def schedule_trigger(
    text: str, default_tz: ZoneInfo, *, hash_id: str, created_at: dt.datetime
) -> CronTrigger | IntervalTrigger:
    """Return the trigger of a schedule text (see the module docs).

    Raises:
        ValueError: naming the part of the text that is wrong and its value.
    """
    if not isinstance(text, str) or len(text) > MAX_SCHEDULE:
        raise ValueError(f"invalid schedule {str(text)[:80]!r}: longer than {MAX_SCHEDULE}")
    if text.startswith("@every"):
        match = _EVERY_RE.fullmatch(text)
        if match is None:
            raise ValueError(
                f"invalid schedule {text[:80]!r}: expected '@every DURATION "
                "[start=ISO] [jitter=DURATION]'"
            )
        period = _every(match.group(1), "@every")
        options: dict[str, str] = {}
        for item in match.group(2).split():
            key, _, value = item.partition("=")
            if key not in _OPTIONS or key in options:
                raise ValueError(f"invalid schedule {text[:80]!r}: unknown or repeated {key!r}")
            options[key] = value
        start = _start(options["start"], "start") if "start" in options else created_at
        if "jitter" in options:
            jitter = _duration(options["jitter"], "jitter")
            if jitter >= period:
                raise ValueError(
                    f"jitter {options['jitter']!r} must be shorter than the interval "
                    f"{match.group(1)!r}"
                )
            start += _fixed_delay(hash_id, jitter)
        return IntervalTrigger(period, start=start)
    if text.startswith("CRON_TZ="):
        match = _TZ_RE.fullmatch(text)
        if match is None:
            raise ValueError(f"invalid schedule {text[:80]!r}: expected 'CRON_TZ=ZONE EXPR'")
        return CronTrigger(match.group(2), _zone(match.group(1), "CRON_TZ"), hash_id=hash_id)
    return CronTrigger(text, default_tz, hash_id=hash_id)


def _fixed_delay(job_id: str, jitter: dt.timedelta) -> dt.timedelta:
    """A delay in ``[0, jitter]`` that depends only on the job id (stable across restarts)."""
    digest = int.from_bytes(hashlib.sha256(job_id.encode()).digest()[:8], "big")
    steps = jitter // dt.timedelta(microseconds=1)
    return dt.timedelta(microseconds=digest % (steps + 1))
