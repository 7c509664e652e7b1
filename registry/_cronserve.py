"""``actors cron serve``: run the durable cron's scheduler as a node, like ``actors run``.

``actors cron serve --store DIR|URL`` boots a node whose one service is
:func:`actors.cron.cron_service` and runs it until Ctrl+C or SIGTERM, with the logging, the
graceful stop and the control endpoint of ``actors run`` (``actors ps DIR``):

- with ``--app APP``, the app in ``APP`` is booted on the same node and the cron service
  (``cron:serve``) starts after the app's ``auto_start`` services: targets are the app's
  processes, and the service fires and delivers;
- without it, the service only fires: into ``DIR/triggers`` on a data folder, or into
  ``--triggers DIR``'s ``triggers/`` on PostgreSQL. An app delivers those files with a
  ``cron.durable`` entry with ``role: deliver`` on that folder.

Exit codes are those of ``actors run``: 0 clean stop, 1 unclean, 2 bad input.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from actors import parse_duration
from actors.cron import RunRetention
from actors.cron._pgschema import is_store_url

from ._app import EXIT_BAD_APP, run_app_cli
from ._boot import AppPlan, load_app
from ._cronentry import durable_cron_spec
from ._exceptions import IndexFileError, Problem

__all__ = ["SERVE_SERVICE", "serve_cli"]

SERVE_SERVICE = "cron:serve"
"""The service name of the scheduler ``actors cron serve`` runs (``actors ps`` shows it)."""


def serve_cli(args: argparse.Namespace, *, stderr: IO[str] | None = None) -> int:
    """Run ``actors cron serve`` with parsed ``args``; return the exit code."""
    err = sys.stderr if stderr is None else stderr
    try:
        role, trigger_dir, control_root = _check(args)
        retention = _retention(args)
    except ValueError as error:
        print(f"actors cron serve: error: {error}", file=err)
        return EXIT_BAD_APP
    run_args = argparse.Namespace(
        dir=str(control_root),
        grace=args.grace,
        log_level=args.log_level,
        control=args.control,
        metrics_port=args.metrics_port,
        workers=0,
    )

    def load() -> AppPlan:
        if args.app is not None:
            plan = load_app(args.app)
        else:
            plan = AppPlan(Path(control_root), (), (), (), {}, os.environ)
        for entry in plan.entries:
            if entry.kind == "cron.durable" and _same_store(entry.data["store"], args.store):
                problem = (
                    f"already runs a durable cron on {args.store!r}; two would fire each "
                    "slot twice: run the app with `actors run` instead"
                )
                raise IndexFileError([Problem(problem, entry.origin, entry=entry.id)])
        if any(spec.name == SERVE_SERVICE for spec in plan.services):
            problem = f"the entry id {SERVE_SERVICE} is taken by actors cron serve; rename it"
            raise IndexFileError([Problem(problem, str(plan.root), entry=SERVE_SERVICE)])
        spec = durable_cron_spec(
            SERVE_SERVICE,
            args.store,
            role=role,
            tz=args.tz,
            poll_interval=args.poll_interval,
            misfire_grace=args.misfire_grace,
            max_attempts=args.max_attempts,
            trigger_dir=trigger_dir,
            retention=retention,
            requires=tuple(spec.name for spec in plan.services if spec.auto_start),
        )
        return attrs.evolve(plan, services=(*plan.services, spec))

    return run_app_cli(run_args, stderr=err, load=load, command="actors cron serve")


def _same_store(one: str, other: str) -> bool:
    if is_store_url(one) or is_store_url(other):
        return one == other
    return Path(one).resolve() == Path(other).resolve()


def _check(args: argparse.Namespace) -> tuple[str, str | None, Path]:
    """Return (role, trigger_dir, control root) or raise ``ValueError`` naming the option."""
    try:
        ZoneInfo(args.tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"--tz: unknown time zone {args.tz!r}") from None
    if not 0 < args.poll_interval <= 3600:
        raise ValueError(f"--poll-interval must be in (0, 3600] s, got {args.poll_interval!r}")
    if not 0 <= args.misfire_grace < 10**9:
        raise ValueError(f"--misfire-grace must be >= 0 seconds, got {args.misfire_grace!r}")
    if not 0 <= args.max_attempts <= 1_000_000:
        raise ValueError(f"--max-attempts must be in 0..1000000, got {args.max_attempts}")
    if args.app is not None and not Path(args.app).is_dir():
        raise ValueError(f"--app {args.app!r} is not a folder")
    if is_store_url(args.store):
        if args.app is not None:
            if args.triggers is not None:
                raise ValueError("--triggers is for a PostgreSQL store without --app")
            return "all", None, Path(args.app)
        if args.triggers is None:
            raise ValueError(
                "a PostgreSQL store without --app needs --triggers DIR: the data folder "
                "whose triggers/ receives the fires (an app delivers them)"
            )
        _check_folder("--triggers", args.triggers, init=args.init)
        return "schedule", args.triggers, Path(args.triggers)
    if args.triggers is not None:
        raise ValueError("--triggers is for a PostgreSQL store; a data folder uses DIR/triggers")
    _check_folder("--store", args.store, init=args.init)
    if args.app is not None:
        return "all", None, Path(args.app)
    return "schedule", None, Path(args.store)


def _retention(args: argparse.Namespace) -> RunRetention | None:
    """The ``--keep-runs``/``--keep-dead``/``--max-age`` options, or None if none is given.

    Raises:
        ValueError: naming the option, for a bad value or a data folder store.
    """
    given = {"--keep-runs": args.keep_runs, "--keep-dead": args.keep_dead}
    age = args.max_age
    if all(value is None for value in (*given.values(), age)):
        return None
    if not is_store_url(args.store):
        raise ValueError(
            "--keep-runs, --keep-dead and --max-age are for a PostgreSQL store "
            "(a data folder bounds its history by itself)"
        )
    counts: dict[str, int | None] = {"--keep-runs": 200, "--keep-dead": 100}
    for option, text in given.items():
        if text is None:
            continue
        if text.strip().lower() == "none":
            counts[option] = None
        elif text.strip().isdecimal() and len(text.strip()) <= 10:
            counts[option] = int(text)
        else:
            raise ValueError(f"{option} must be a count of runs or 'none', got {text!r}")
    max_age: float | None = 30 * 86400.0
    if age is not None:
        if age.strip().lower() == "none":
            max_age = None
        else:
            try:
                max_age = parse_duration(age)
            except ValueError as error:
                raise ValueError(f"--max-age: {error}") from None
    try:
        return RunRetention(
            keep_runs=counts["--keep-runs"], keep_dead=counts["--keep-dead"], max_age=max_age
        )
    except ValueError as error:
        message = str(error).replace("retention ", "--").replace("_", "-", 1)
        raise ValueError(message) from None


def _check_folder(option: str, where: str, *, init: bool) -> None:
    """A cron data folder has ``jobs/``; ``--init`` creates one, nothing else does."""
    path = Path(where)
    if not where or "\x00" in where:
        raise ValueError(f"{option} {where!r} is not a folder name")
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {where!r} is not a folder")
    if not (path / "jobs").is_dir():
        if not init:
            raise ValueError(
                f"{option} {where!r} is not a cron data folder (it has no jobs/); "
                "pass --init to create one"
            )
        (path / "jobs").mkdir(parents=True, exist_ok=True)
        (path / "triggers").mkdir(exist_ok=True)
