"""``actors cron ...``: add, list, remove, enable and disable durable cron jobs.

The commands edit the job files directly (with the store's locks), so they
work whether or not a cron service runs on the folder; a running service
picks the change up within its poll interval. ``--store postgresql://...`` (instead of
``--dir``) edits the jobs of a PostgreSQL store instead. Exit codes: 0 ok, 1 no such
job, 2 bad input (argparse usage errors are 2 as well), 3 an I/O error.
Errors go to stderr as one line naming the field and value.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import _ops as ops
from ._atomicfs import decode_json
from ._job import InvalidJobId, JobExists, JobNotFound
from ._pgschema import SchemaTooNew, is_store_url
from ._pgstore import PgJobStore
from ._schedule import format_schedule
from ._store import JobStore
from ._triggerfiles import check_target, format_time

__all__ = ["add_cron_parser"]

OK, NOT_FOUND, BAD_INPUT, IO_ERROR = 0, 1, 2, 3


class _BadInput(ValueError):
    """A command-line value is wrong; the message names the option."""


def add_cron_parser(
    subparsers: Any, *, serve: Callable[[argparse.Namespace], int] | None = None
) -> None:
    """Add the ``cron`` command and its actions to the ``actors`` parser.

    Args:
        subparsers: The object returned by ``ArgumentParser.add_subparsers``.
        serve: The handler of ``actors cron serve`` (it boots a node, so it lives in
            ``registry``); None leaves the action out.
    """
    cron = subparsers.add_parser(
        "cron",
        help="manage durable cron jobs in a data folder",
        description="Manage the jobs of a durable cron data folder (DIR/jobs/*.json).",
    )
    actions = cron.add_subparsers(dest="cron_action", required=True, metavar="ACTION")

    add = actions.add_parser("add", help="add a job and print its id")
    _dir_option(add)
    add.add_argument("--name", required=True, help="human name; the id is derived from it")
    when = add.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", metavar="EXPR", help="5 or 6 fields (seconds last)")
    when.add_argument("--every", metavar="DURATION", help="an interval such as 90s or 1h30m")
    add.add_argument("--tz", metavar="ZONE", help="with --cron: read it in this IANA zone")
    add.add_argument("--start", metavar="ISO", help="with --every: the first slot (default now)")
    add.add_argument(
        "--jitter", metavar="DURATION", help="with --every: a fixed per-job delay up to this"
    )
    add.add_argument("--target", required=True, help="process name or PID string to deliver to")
    add.add_argument("--prompt", required=True, metavar="TEXT", help="text of each event")
    add.add_argument("--oneshot", action="store_true", help="fire once, then delete the job")
    add.add_argument("--payload", metavar="JSON", help="structured JSON payload of each event")
    add.add_argument(
        "--catch-up",
        choices=("none", "once", "all"),
        default="none",
        help="what to do about slots missed while the service was down (default none)",
    )
    add.add_argument("--heartbeat-file", metavar="PATH", help="skip unless this file has text")
    add.add_argument("--id", help="explicit id (a-z, 0-9, '-') instead of one from the name")
    add.add_argument("--disabled", action="store_true", help="add the job disabled")
    add.add_argument(
        "--init", action="store_true", help="create the data folder if it is not one yet"
    )
    add.set_defaults(handler=partial(_guarded, "add", _add))

    listing = actions.add_parser("list", help="list the jobs")
    _dir_option(listing)
    listing.add_argument("--json", action="store_true", help="print a JSON array of job objects")
    _tz_option(listing)
    listing.set_defaults(handler=partial(_guarded, "list", _list))

    now = actions.add_parser("run-now", help="fire a job now (recorded like a scheduled fire)")
    _dir_option(now)
    now.add_argument("id", metavar="ID", help="the job id (see `actors cron list`)")
    now.set_defaults(handler=partial(_guarded, "run-now", _run_now))

    hist = actions.add_parser("history", help="the latest deliveries of a job")
    _dir_option(hist)
    hist.add_argument("id", metavar="ID", help="the job id (see `actors cron list`)")
    hist.add_argument("--limit", type=int, default=20, metavar="N", help="at most N (20)")
    hist.add_argument("--json", action="store_true", help="print a JSON array")
    hist.set_defaults(handler=partial(_guarded, "history", _history))

    for action, verb in (("pause", "stop firing (delivery goes on)"), ("resume", "fire again")):
        sub = actions.add_parser(action, help=f"every service of the store: {verb}")
        _dir_option(sub)
        sub.set_defaults(handler=partial(_guarded, action, partial(_pause, action == "pause")))

    for action, verb in (("remove", "delete"), ("enable", "enable"), ("disable", "disable")):
        sub = actions.add_parser(action, help=f"{verb} the job with this id")
        _dir_option(sub)
        sub.add_argument("id", metavar="ID", help="the job id (see `actors cron list`)")
        sub.set_defaults(handler=partial(_guarded, action, partial(_change, action)))

    dead = actions.add_parser(
        "dead-letters", help="list the triggers given up after the retry limit, or replay them"
    )
    _dir_option(dead)
    dead.add_argument("--json", action="store_true", help="print a JSON array")
    replay = dead.add_mutually_exclusive_group()
    replay.add_argument("--replay", metavar="NAME", action="append", help="deliver NAME again")
    replay.add_argument("--replay-all", action="store_true", help="deliver them all again")
    dead.set_defaults(handler=partial(_guarded, "dead-letters", _dead_letters))

    if serve is not None:
        _add_serve(actions, serve)


def _add_serve(actions: Any, handler: Callable[[argparse.Namespace], int]) -> None:
    serve = actions.add_parser(
        "serve",
        help="run the scheduler until Ctrl+C (with --app: and that app)",
        description="Run the durable cron as a node: fire the store's jobs; with --app, boot "
        "that app too and deliver to its processes, else write trigger files an app delivers.",
    )
    serve.add_argument("--store", required=True, metavar="DIR|URL", help="data folder or URL")
    serve.add_argument("--app", metavar="DIR", help="boot this app and deliver to it")
    serve.add_argument(
        "--triggers", metavar="DIR", help="PostgreSQL without --app: data folder for the fires"
    )
    serve.add_argument("--init", action="store_true", help="create the data folder if needed")
    serve.add_argument("--tz", default="UTC", help="zone of jobs without one (default UTC)")
    serve.add_argument(
        "--poll-interval", type=float, default=0.5, metavar="S", help="longest sleep (0.5)"
    )
    serve.add_argument(
        "--misfire-grace", type=float, default=60.0, metavar="S", help="late fires allowed (60)"
    )
    serve.add_argument(
        "--max-attempts",
        type=int,
        default=20,
        metavar="N",
        help="failed deliveries before a trigger is a dead letter (20; 0: retry forever)",
    )
    for flag, what in (("--keep-runs", "finished runs (200)"), ("--keep-dead", "dead runs (100)")):
        serve.add_argument(
            flag, metavar="N|none", help=f"PostgreSQL: {what} kept per job in the run ledger"
        )
    serve.add_argument(
        "--max-age", metavar="DURATION|none", help="PostgreSQL: runs kept at most this (720h)"
    )
    serve.add_argument("--grace", type=float, default=None, help="seconds to stop gracefully")
    serve.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    serve.add_argument(
        "--no-control", dest="control", action="store_false", help="no control socket"
    )
    serve.add_argument("--metrics-port", type=int, default=None, metavar="PORT")
    serve.set_defaults(handler=handler)


def _dir_option(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--dir", metavar="DIR", help="the cron data folder")
    where.add_argument(
        "--store", metavar="DIR|URL", help="a cron data folder or a postgresql:// URL"
    )


def _guarded(action: str, fn: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run one action and turn its errors into one stderr line and an exit code."""
    try:
        return fn(args)
    except JobNotFound as exc:
        code, message = NOT_FOUND, str(exc)
    except (_BadInput, InvalidJobId, JobExists, ValueError) as exc:
        code, message = BAD_INPUT, str(exc)
    except (OSError, SchemaTooNew) as exc:  # lock timeout, permissions, disk full, database
        code, message = IO_ERROR, str(exc)
    print(f"actors cron {action}: error: {message}", file=sys.stderr)
    return code


def _open(args: argparse.Namespace, *, create: bool) -> JobStore | PgJobStore:
    option, where = ("--dir", args.dir) if args.store is None else ("--store", args.store)
    if not where or "\x00" in where:
        raise _BadInput(f"{option} {where!r} is not a folder name or store URL")
    if is_store_url(where):
        return PgJobStore(where)
    path = Path(where)
    if path.exists() and not path.is_dir():
        raise _BadInput(f"{option} {where!r} is not a folder")
    if not (create and args.init) and not (path / "jobs").is_dir():
        hint = "; pass --init to create one" if create else ""
        raise _BadInput(f"{option} {where!r} is not a cron data folder (it has no jobs/){hint}")
    return JobStore(path)


def _add(args: argparse.Namespace) -> int:
    if not args.name.strip():
        raise _BadInput("--name must not be empty")
    if not args.target.strip():
        raise _BadInput("--target must not be empty")
    try:
        check_target(args.target)
    except ValueError as exc:
        raise _BadInput(f"--target: {exc}") from None
    option = "--cron" if args.cron is not None else "--every"
    try:
        schedule = format_schedule(
            args.cron, tz=args.tz, every=args.every, start=args.start, jitter=args.jitter
        )
    except ValueError as exc:
        message = str(exc)
        raise _BadInput(message if message.startswith("--") else f"{option}: {message}") from None
    payload = None
    if args.payload is not None:
        try:
            payload = decode_json(args.payload.encode("utf-8", "surrogateescape"))
        except ValueError as exc:
            reason = str(exc).removeprefix("not valid JSON: ").replace("file is empty", "empty")
            raise _BadInput(
                f"--payload is not valid JSON ({reason}): {args.payload[:80]!r}"
            ) from None
    job = _open(args, create=True).add(
        args.name,
        schedule,
        args.target,
        prompt=args.prompt,
        payload=payload,
        oneshot=args.oneshot,
        enabled=not args.disabled,
        catch_up=args.catch_up,
        heartbeat_file=args.heartbeat_file,
        id=args.id,
    )
    print(job.id)
    return OK


def _list(args: argparse.Namespace) -> int:
    store = _open(args, create=False)
    zone = _zone(args.tz)
    problems = store.load_problems() if isinstance(store, JobStore) else []
    for path, reason in problems:
        _warn("list", f"skipped {str(path)!r}: {reason}")
    jobs = ops.statuses(store, tz=zone)
    paused = ops.paused_at(store)
    if args.json:
        print(json.dumps([job.to_json() for job in jobs], indent=2))
        return OK
    if paused is not None:
        print(f"# paused since {format_time(paused)}: nothing fires (actors cron resume)")
    for status in jobs:
        print(_describe(status))
    return OK


def _dead_letters(args: argparse.Namespace) -> int:
    store = _open(args, create=False)
    letters, problems = ops.dead_letters(store)
    for path, reason in problems:
        _warn("dead-letters", f"skipped {str(path)!r}: {reason}")
    if args.replay or args.replay_all:
        for name in [d["name"] for d in letters] if args.replay_all else args.replay:
            print(f"{name} -> {ops.replay(store, name)}")
        return OK
    if args.json:
        print(json.dumps(letters, indent=2, default=_json_time))
        return OK
    for d in letters:
        slot = "-" if d["slot"] is None else format_time(d["slot"])
        print(
            f"{d['name']}: job={d['job_id'] or '-'} target={d['target']} slot={slot} "
            f"attempts={d['attempts']} failed_at={format_time(d['failed_at'])} "
            f"reason={d['reason']}"
        )
    return OK


def _json_time(value: object) -> str:
    if isinstance(value, dt.datetime):
        return format_time(value)
    raise TypeError(f"not JSON: {value!r}")


def _warn(action: str, message: str) -> None:
    print(f"actors cron {action}: warning: {message}", file=sys.stderr)


def _run_now(args: argparse.Namespace) -> int:
    print(ops.run_now(_open(args, create=False), args.id))
    return OK


def _history(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 10_000:
        raise _BadInput(f"--limit must be in 1..10000, got {args.limit}")
    lines = ops.history(_open(args, create=False), args.id, limit=args.limit)
    if args.json:
        print(json.dumps(lines, indent=2))
        return OK
    for line in lines:
        extra = f" reason={line['reason']}" if line.get("reason") else ""
        when = line.get("at") or line.get("finished_at") or line.get("fired_at") or "-"
        print(
            f"{line.get('slot') or '-'} {line.get('result')} attempt={line.get('attempt')} "
            f"at={when}{extra}"
        )
    return OK


def _pause(paused: bool, args: argparse.Namespace) -> int:
    ops.pause(_open(args, create=False), paused)
    print("paused" if paused else "resumed")
    return OK


def _describe(status: ops.JobStatus) -> str:
    job = status.job
    flags = [flag for flag, on in (("oneshot", job.oneshot), ("disabled", not job.enabled)) if on]
    if job.catch_up != "none":
        flags.append(f"catch-up={job.catch_up}")
    if job.heartbeat_file:
        flags.append(f"heartbeat={job.heartbeat_file}")
    extra = f" [{', '.join(flags)}]" if flags else ""
    facts = []
    if (nxt := status.next_fire) is not None:
        zoned = nxt.astimezone(status.zone).isoformat()
        utc = "" if status.zone.key == "UTC" else f" ({format_time(nxt)})"
        facts.append(f"next={zoned}{utc}")
    if status.last_fire is not None:
        facts.append(f"last={format_time(status.last_fire)}")
    if status.last_result is not None:
        facts.append(f"result={status.last_result}")
    if status.failures:
        facts.append(f"failures={status.failures}")
    tail = "".join(f" {fact}" for fact in facts)
    return f"{job.id}: {job.name!r} ({job.cron}) -> {job.target}{extra}{tail}"


def _tz_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tz", default="UTC", help="zone the service reads cron expressions in (default UTC)"
    )


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _BadInput(f"--tz: unknown time zone {name!r}") from None


def _change(action: str, args: argparse.Namespace) -> int:
    store = _open(args, create=False)
    job = {"remove": store.remove, "enable": store.enable, "disable": store.disable}[action](
        args.id
    )
    print(job.id)
    return OK
