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
import json
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from ._atomicfs import decode_json
from ._job import InvalidJobId, Job, JobExists, JobNotFound, validate_cron
from ._pgschema import SchemaTooNew, is_store_url
from ._pgstore import PgJobStore
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
    add.add_argument("--cron", required=True, metavar="EXPR", help="5 or 6 fields (seconds last)")
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
    listing.set_defaults(handler=partial(_guarded, "list", _list))

    for action, verb in (("remove", "delete"), ("enable", "enable"), ("disable", "disable")):
        sub = actions.add_parser(action, help=f"{verb} the job with this id")
        _dir_option(sub)
        sub.add_argument("id", metavar="ID", help="the job id (see `actors cron list`)")
        sub.set_defaults(handler=partial(_guarded, action, partial(_change, action)))

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
    for option, check in (("--target", check_target), ("--cron", validate_cron)):
        try:
            check(getattr(args, option[2:]))
        except ValueError as exc:
            raise _BadInput(f"{option}: {exc}") from None
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
        args.cron,
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
    jobs = store.list()
    problems = store.load_problems() if isinstance(store, JobStore) else []
    for path, reason in problems:
        print(f"actors cron list: warning: skipped {str(path)!r}: {reason}", file=sys.stderr)
    if args.json:
        print(json.dumps([job.to_json() for job in jobs], indent=2))
    else:
        for job in jobs:
            print(_describe(job))
    return OK


def _describe(job: Job) -> str:
    flags = [flag for flag, on in (("oneshot", job.oneshot), ("disabled", not job.enabled)) if on]
    if job.catch_up != "none":
        flags.append(f"catch-up={job.catch_up}")
    if job.heartbeat_file:
        flags.append(f"heartbeat={job.heartbeat_file}")
    if job.last_fired_at is not None:
        flags.append(f"last={format_time(job.last_fired_at)}")
    extra = f" [{', '.join(flags)}]" if flags else ""
    return f"{job.id}: {job.name!r} ({job.cron}) -> {job.target}{extra}"


def _change(action: str, args: argparse.Namespace) -> int:
    store = _open(args, create=False)
    job = {"remove": store.remove, "enable": store.enable, "disable": store.disable}[action](
        args.id
    )
    print(job.id)
    return OK
