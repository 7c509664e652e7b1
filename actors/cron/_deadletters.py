"""Dead letters and the delivery history of a data folder.

A trigger whose delivery failed ``RetryPolicy.max_attempts`` times is a **dead letter**: it
moves from ``triggers/`` to ``triggers/dead/<same name>``, a JSON object with the trigger,
the reason (the last error), the attempts and when it was given up (``failed_at``). It is
never retried by itself; ``actors cron dead-letters --replay NAME`` writes it back as a
fresh trigger (attempt 1, same job, slot and prompt) and deletes the dead letter. Writing
the dead letter happens before removing the trigger, so a crash in between leaves both and
the trigger is given up again under the same name (one dead letter, never none). Each job
keeps its newest :data:`MAX_DEAD_PER_JOB` dead letters; older ones are deleted (logged), so a
job whose target never comes does not fill the disk.

The **history** of a job (``history/<job id>.jsonl``) is one JSON line per outcome:
``delivered``, ``dead`` or ``replayed``, with the slot, the attempt and, for a dead letter,
the reason. It is kept short (the newest :data:`HISTORY_KEEP` lines once it
passes :data:`HISTORY_MAX_BYTES`), so it never grows without bound.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
from pathlib import Path

import attrs

from ._atomicfs import decode_json, read_bounded, write_atomic
from ._job import ID_RE
from ._triggerfiles import (
    JsonValue,
    Trigger,
    complete,
    format_time,
    job_id_of,
    parse_time,
    write_trigger,
)

__all__ = [
    "DEAD",
    "DeadLetter",
    "append_history",
    "dead_letter",
    "list_dead",
    "read_history",
    "replay_dead",
]

DEAD = "dead"
"""Sub-folder of ``triggers/`` that holds dead letters."""

HISTORY = "history"
"""Sub-folder of the data folder with one ``<job id>.jsonl`` per job."""

HISTORY_MAX_BYTES = 64 * 1024
"""A history file longer than this is cut to its newest :data:`HISTORY_KEEP` lines."""

HISTORY_KEEP = 200

MAX_DEAD_PER_JOB = 100
"""Dead letters kept per job (and for external triggers); older ones are deleted."""

_MAX_REASON = 2000
_log = logging.getLogger("actors.cron")


@attrs.frozen
class DeadLetter:
    """A trigger given up after its last failed delivery (``triggers/dead/<name>``)."""

    name: str
    """The file name (that of the trigger it was)."""
    trigger: Trigger
    """What was to be delivered; ``attempt`` is the last attempt made."""
    reason: str
    """The error of the last attempt."""
    failed_at: dt.datetime
    """When it was given up (UTC)."""

    def to_json(self) -> dict[str, JsonValue]:
        """Return the JSON object stored in the file (``name`` is the file name)."""
        return {
            "trigger": self.trigger.to_json(),
            "reason": self.reason,
            "failed_at": format_time(self.failed_at),
        }

    @classmethod
    def from_json(cls, name: str, data: object) -> DeadLetter:
        """Build a dead letter from its decoded file, strictly.

        Raises:
            ValueError: naming the field that is wrong.
        """
        if not isinstance(data, dict) or not data.keys() <= {"trigger", "reason", "failed_at"}:
            raise ValueError("expected an object with fields trigger, reason and failed_at")
        reason = data.get("reason")
        if not isinstance(reason, str):
            raise ValueError(f"field 'reason' must be a string, got {reason!r:.80}")
        trigger = Trigger.from_json(data.get("trigger"), source=name)
        return cls(name, trigger, reason, parse_time(data.get("failed_at"), "failed_at"))


def dead_letter(path: Path, trigger: Trigger, reason: str, *, now: dt.datetime) -> Path:
    """Move the trigger file ``path`` to ``dead/`` beside it, with ``reason``; return the new
    path. Raises ``OSError`` if it cannot be written (the trigger then stays)."""
    folder = path.parent / DEAD
    folder.mkdir(exist_ok=True)
    letter = DeadLetter(path.name, trigger, reason[:_MAX_REASON], now)
    target = folder / path.name
    write_atomic(target, (json.dumps(letter.to_json(), indent=2) + "\n").encode())
    with contextlib.suppress(FileNotFoundError):
        complete(path)
    _drop_oldest(folder, job_id_of(path))
    return target


def _drop_oldest(folder: Path, job_id: str | None) -> None:
    """Keep the newest :data:`MAX_DEAD_PER_JOB` dead letters of a job (or of external
    triggers): a job whose target never exists must not fill the disk."""
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json") and n[0] != ".")
    except OSError:
        return
    mine = [n for n in names if job_id_of(folder / n) == job_id]
    for name in mine[:-MAX_DEAD_PER_JOB]:
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
    if len(mine) > MAX_DEAD_PER_JOB:
        _log.warning(
            "cron dead letters dropped job=%s count=%d (keeping the newest %d)",
            job_id or "external",
            len(mine) - MAX_DEAD_PER_JOB,
            MAX_DEAD_PER_JOB,
        )


def list_dead(triggers_dir: Path) -> tuple[list[DeadLetter], list[tuple[Path, str]]]:
    """Return the dead letters in name (fire) order, and ``(path, reason)`` for bad files."""
    folder = triggers_dir / DEAD
    letters, problems = [], []
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json") and n[0] != ".")
    except FileNotFoundError:
        return [], []
    for name in names:
        try:
            letters.append(DeadLetter.from_json(name, decode_json(read_bounded(folder / name))))
        except FileNotFoundError:
            continue
        except (ValueError, RecursionError) as exc:
            problems.append((folder / name, str(exc)))
    return letters, problems


def replay_dead(triggers_dir: Path, name: str, *, now: dt.datetime) -> Path:
    """Write dead letter ``name`` back as a fresh trigger (attempt 1); return its path.

    Raises:
        FileNotFoundError: no dead letter has this name.
        ValueError: the name is not a file name, or the dead letter is malformed.
    """
    if "/" in name or "\x00" in name or name.startswith(".") or not name.endswith(".json"):
        raise ValueError(f"invalid dead letter name {name!r}: expected a NAME.json from the list")
    path = triggers_dir / DEAD / name
    letter = DeadLetter.from_json(name, decode_json(read_bounded(path)))
    fresh = attrs.evolve(letter.trigger, attempt=1, fired_at=now, source=None)
    written = write_trigger(triggers_dir, fresh)
    complete(path)
    return written


def append_history(
    data_dir: Path,
    trigger: Trigger,
    result: str,
    *,
    now: dt.datetime,
    reason: str | None = None,
) -> None:
    """Append one outcome to the job's history (nothing for a trigger without a job).

    Best effort: an ``OSError`` is logged, never raised (the delivery itself happened).
    """
    job_id = trigger.job_id
    if job_id is None or ID_RE.fullmatch(job_id) is None:
        return
    line: dict[str, JsonValue] = {
        "at": format_time(now),
        "result": result,
        "slot": None if trigger.scheduled_for is None else format_time(trigger.scheduled_for),
        "attempt": trigger.attempt,
        "trigger": trigger.source,
    }
    if reason is not None:
        line["reason"] = reason[:_MAX_REASON]
    path = data_dir / HISTORY / f"{job_id}.jsonl"
    try:
        path.parent.mkdir(exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line, sort_keys=True) + "\n")
            size = f.tell()
        if size > HISTORY_MAX_BYTES:
            keep = path.read_bytes().splitlines(keepends=True)[-HISTORY_KEEP:]
            write_atomic(path, b"".join(keep))
    except OSError as exc:
        _log.error("cron history not written job=%s error=%r", job_id, exc)


def read_history(data_dir: Path, job_id: str, *, limit: int = 20) -> list[dict[str, JsonValue]]:
    """Return the newest ``limit`` history lines of a job, oldest first (bad lines skipped)."""
    path = data_dir / HISTORY / f"{job_id}.jsonl"
    try:
        raw = read_bounded(path, limit=4 * HISTORY_MAX_BYTES)
    except FileNotFoundError:
        return []
    lines = []
    for text in raw.splitlines()[-limit:] if limit > 0 else []:
        with contextlib.suppress(ValueError, RecursionError):
            item = decode_json(text)
            if isinstance(item, dict):
                lines.append(item)
    return lines
