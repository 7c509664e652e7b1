"""The four stages. Each is spawned with the PID of the next one and knows nothing else.

A stage reads its input topic from the inbox, forwards what it makes to the next stage, and on
``done`` forwards ``done`` (messages between two processes arrive in order, so ``done`` comes
after every line) and returns. The aggregator is last: it learns where to send the summary
from the ``done`` message itself. Every stage also selects ``proc.events``, so a ``Cancel``
stops it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import actors
from actors import PID, Cancel, Process

log = actors.get_logger("app.pipeline")

SEVERITY = {"DEBUG": 0, "INFO": 1, "WARN": 2, "ERROR": 3, "FATAL": 4}


async def stage(
    proc: Process,
    name: str,
    next_pid: PID,
    accepts: str,
    emits: str,
    work: Callable[[Any], Any],
) -> int:
    """Forward ``work(payload)`` of every ``accepts`` message as ``emits``; return the count.

    ``work`` returns None to drop an item; the number dropped rides on the ``done`` message.
    """
    passed = dropped = 0
    while True:
        got = await actors.select(proc.events, proc.inbox)
        if got.source is proc.events:
            if isinstance(got.value, Cancel):
                return passed
            continue
        msg = got.value
        if msg.topic == accepts:
            out = work(msg.payload)
            if out is None:
                dropped += 1
                continue
            passed += 1
            proc.send(next_pid, emits, out)
        elif msg.topic == "done":
            done = dict(msg.payload)
            done["dropped"] = done.get("dropped", 0) + dropped
            proc.send(next_pid, "done", done)
            log.info("Stage done", stage=name, passed=passed, dropped=dropped)
            return passed


def parse(line: str) -> dict[str, str] | None:
    """``"INFO|user.login|Alice"`` -> fields; a malformed line is dropped (None)."""
    parts = line.split("|")
    if len(parts) != 3 or not all(part.strip() for part in parts):
        log.warning("Malformed line", line=line)
        return None
    level, kind, user = (part.strip() for part in parts)
    return {"level": level, "type": kind, "user": user}


def enrich(item: dict[str, str]) -> dict[str, Any]:
    """Normalise the fields and add a severity score (an unknown level scores 0)."""
    level = item["level"].upper()
    return {
        "level": level,
        "type": item["type"].lower(),
        "user": item["user"].lower(),
        "severity": SEVERITY.get(level, 0),
    }


def to_json_and_back(item: dict[str, Any]) -> dict[str, Any]:
    """Encode to JSON and decode again: proves the item is plain, serialisable data."""
    decoded: dict[str, Any] = json.loads(json.dumps(item))
    return decoded


async def parser(proc: Process, next_pid: PID) -> int:
    """Stage 1: ``raw_line`` -> ``parsed``."""
    return await stage(proc, "parser", next_pid, "raw_line", "parsed", parse)


async def transformer(proc: Process, next_pid: PID) -> int:
    """Stage 2: ``parsed`` -> ``enriched``."""
    return await stage(proc, "transformer", next_pid, "parsed", "enriched", enrich)


async def formatter(proc: Process, next_pid: PID) -> int:
    """Stage 3: ``enriched`` -> ``formatted``."""
    return await stage(proc, "formatter", next_pid, "enriched", "formatted", to_json_and_back)


async def aggregator(proc: Process) -> int:
    """Stage 4: count ``formatted`` items; on ``done`` send the summary to its ``reply_to``."""
    by_type: Counter[str] = Counter()
    by_user: Counter[str] = Counter()
    max_severity = 0
    while True:
        got = await actors.select(proc.events, proc.inbox)
        if got.source is proc.events:
            if isinstance(got.value, Cancel):
                return by_type.total()
            continue
        msg = got.value
        if msg.topic == "formatted":
            by_type[msg.payload["type"]] += 1
            by_user[msg.payload["user"]] += 1
            max_severity = max(max_severity, msg.payload["severity"])
        elif msg.topic == "done":
            summary = {
                "total": by_type.total(),
                "max_severity": max_severity,
                "by_type": dict(by_type.most_common()),
                "by_user": dict(by_user.most_common()),
                "dropped": msg.payload.get("dropped", 0),
            }
            proc.send(msg.payload["reply_to"], "summary", summary)
            log.info("Stage done", stage="aggregator", total=summary["total"])
            return by_type.total()
