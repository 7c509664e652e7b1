"""Registry-driven jobs: run every ``cron.job`` function entry on its schedule, live.

``cron_scheduler(proc, registry)`` is a process function. It starts an
:class:`actors.runner.Runner` as its linked child and installs one program per entry
matching ``{"meta.type": "cron.job"}`` (a ``function`` entry), with ``min = max = 1``: one
spawn per job, whose every tick calls the entry through :class:`registry.Funcs`. Because the
runner is linked, a crash or restart of the scheduler never leaves a second set of workers
behind (Wippy's example does).

The entry's ``meta`` says when and how. It is validated strictly: in index files at load
(``load_app``: a bad value is an :class:`IndexFileError` naming file, entry, field and value, so
``actors run`` exits 2 before anything starts); an entry changed later while the scheduler runs
is logged naming the entry and field, that job is not started, the others run (so is a function
that cannot be called with no arguments, as ``load_app`` checks it):

- ``interval``: a duration (``"5s"``, ``"1h30m"``, or seconds); the first run is one interval
  after the job is installed; or
- ``cron``: a cron expression (5 fields, or 6 with seconds last), with optional ``tz`` (IANA);
- ``overlap``: ``forbid`` (default), ``replace``, ``queue``, ``queue:N`` or ``allow:N``;
- ``catch_up``: ``none``, ``once`` (default) or ``all``; ``misfire_grace``: a duration
  (default ``60s``); ``coalesce``: bool (default true); ``jitter``: a duration (default 0).

The registry is watched (``registry.watch``): after each change that concerns ``cron.job``
entries, the wanted jobs are compared with the installed ones. A new entry is installed, a
removed one uninstalled (graceful: its run in flight may finish), an entry whose schedule
changed is reinstalled; every other job keeps running untouched, so its phase is kept. A change
of the function alone needs nothing: ``Funcs`` picks up the new entry on the next call.

Each run logs ``TICK entry=<id> run=<n> result=<r>`` on logger ``registry.scheduler``. A run
whose function raises is a crash of its run process, reported by the kernel under the entry id
(``process crashed function=app:job ...``): the traceback at the first failure, then one line
with the count now and then, and ``process recovered`` at the next success (see
``actors._core._crashlog``); ``TICK FAILED`` is logged at DEBUG only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from actors import PID, Cancel, CronTrigger, Node, Process, get_logger, select
from actors._core._crashlog import set_label
from actors.runner import Program, RunContext, Runner, start_runner

from ._entry import Entry
from ._exceptions import RegistryError
from ._funcs import Funcs
from ._registry import Registry
from ._resolve import resolve_callable
from ._signatures import function_problem
from ._validate import CronJob, CronJobError, check_cron_job, parse_cron_job
from ._watch import watch

if TYPE_CHECKING:
    from actors import WallClock

__all__ = [
    "CRON_JOB_FILTER",
    "CronJob",
    "CronJobError",
    "check_cron_job",
    "cron_job_program",
    "cron_scheduler",
    "parse_cron_job",
]

CRON_JOB_FILTER: Mapping[str, Any] = {"meta.type": "cron.job"}
"""The entries the scheduler runs (only ``function`` entries qualify)."""

log = get_logger("registry.scheduler")


def _keep_last(_: Any, result: Any) -> Any:
    return result


def cron_job_program(job: CronJob, funcs: Funcs) -> Program:
    """The runner program of a job: one spawn calling the entry on each tick."""
    entry_id = job.entry_id

    async def main_fn(proc: Process, ctx: RunContext) -> Any:
        try:
            result = await funcs.call(entry_id)
        except Exception as error:
            # the kernel's crash report names the entry (the label below), with the traceback
            # once per failure streak: no line of our own per failed tick
            log.debug("TICK FAILED", entry=entry_id, run=ctx.fire.run, error=repr(error))
            raise
        log.info("TICK", entry=entry_id, run=ctx.fire.run, result=result)
        return result

    set_label(main_fn, entry_id)

    trigger = None if job.cron is None else CronTrigger(job.cron, tz=job.tz, hash_id=entry_id)
    return Program(
        entry_id,
        main_fn,
        interval=job.interval,
        trigger=trigger,
        merge_fn=_keep_last,
        min=1,
        max=1,
        overlap=job.overlap,
        policy=job.policy,
        max_jitter=job.jitter,
    )


async def cron_scheduler(
    proc: Process,
    registry: Registry | None = None,
    *,
    funcs: Funcs | None = None,
    wall_clock: WallClock | None = None,
    filter: Mapping[str, Any] = CRON_JOB_FILTER,
) -> None:
    """Run every ``cron.job`` entry of ``registry`` until a ``Cancel`` (see the module docs).

    Async: a process function (``start_cron_scheduler`` spawns it); on ``Cancel`` it stops
    its runner gracefully (runs in flight finish) and returns.

    Args:
        proc (Process): The scheduler's process.
        registry (Registry | None): The live registry; default the booted app's
            (``registry.current_app``), so a ``process`` entry can run it directly.
        funcs (Funcs | None): Calls the entries (default ``Funcs(registry)``, or the app's).
        wall_clock (WallClock | None): The wall clock of the schedules (tests inject one).
        filter (Mapping[str, Any]): Which entries are jobs.

    Call it with topic ``cron_scheduler.jobs`` to get the installed :class:`CronJob`s by id,
    and ``cron_scheduler.runner`` to get the :class:`actors.runner.Runner` handle.

    Raises:
        RuntimeError: If ``registry`` is None and no app is booted on the node.
    """
    if registry is None:
        from ._boot import current_app

        app = current_app(proc)
        registry, funcs = app.registry, funcs or app.funcs
    funcs = funcs if funcs is not None else Funcs(registry)
    runner = start_runner(proc, wall_clock=wall_clock)
    installed: dict[str, CronJob] = {}
    invalid: dict[str, Entry] = {}  # entries already reported, so each bad version logs once
    unwatch = watch(registry, proc, filter)
    try:
        await _sync(registry, filter, runner, funcs, installed, invalid)
        while True:
            got = await select(proc.events, proc.inbox)
            if got.source is proc.events:
                if isinstance(got.value, Cancel):
                    break
                continue
            message = got.value
            if message.topic == "registry.changed":
                await _sync(registry, filter, runner, funcs, installed, invalid)
            elif message.reply_to is not None:
                if message.topic == "cron_scheduler.jobs":
                    proc.reply(message, dict(installed))
                elif message.topic == "cron_scheduler.runner":
                    proc.reply(message, runner)
                else:
                    proc.reply_error(message, ValueError(f"unknown request {message.topic!r}"))
        await runner.stop()
    finally:
        unwatch()


async def _sync(
    registry: Registry,
    filter: Mapping[str, Any],
    runner: Runner,
    funcs: Funcs,
    installed: dict[str, CronJob],
    invalid: dict[str, Entry],
) -> None:
    """Bring the runner's programs in line with the registry's ``cron.job`` entries."""
    wanted: dict[str, CronJob] = {}
    for entry in registry.find(filter):
        try:
            wanted[entry.id] = parse_cron_job(entry)
            _check_callable(entry)
        except CronJobError as error:
            wanted.pop(entry.id, None)
            if invalid.get(entry.id) != entry:
                invalid[entry.id] = entry
                log.error("cron job invalid", entry=entry.id, error=str(error))
            continue
        invalid.pop(entry.id, None)
    for entry_id in [i for i in installed if i not in wanted]:
        del installed[entry_id]
        await runner.uninstall(entry_id)
        log.info("cron job removed", entry=entry_id)
    for entry_id, job in wanted.items():
        before = installed.get(entry_id)
        if before == job:
            continue
        await runner.install(cron_job_program(job, funcs))
        installed[entry_id] = job
        when = (
            f"every {job.interval:g}s" if job.interval is not None else f"cron {job.cron} {job.tz}"
        )
        log.info("cron job retimed" if before else "cron job added", entry=entry_id, schedule=when)


def _check_callable(entry: Entry) -> None:
    """Refuse a job whose function cannot be called with no arguments (as ``load_app`` does).

    A callable that cannot be resolved now is left to the runs (each reports it), so a module
    that appears later is picked up without a change of the entry.
    """
    try:
        fn = resolve_callable(entry)
    except RegistryError:
        return
    if (problem := function_problem(entry, fn)) is not None:
        raise CronJobError(f"cron job {entry.id}: field source: {problem}")


def start_cron_scheduler(
    via: Node | Process,
    registry: Registry | None = None,
    *,
    name: str | None = None,
    **options: Any,
) -> PID:
    """Spawn :func:`cron_scheduler` (linked when ``via`` is a process) and return its PID.

    ``options`` are ``cron_scheduler``'s keywords (``funcs``, ``wall_clock``, ``filter``).
    From a node the scheduler has no parent.

    Args:
        via (Node | Process): Where to spawn it from.
        registry (Registry | None): The live registry; None for the booted app's (looked up
            when the scheduler starts, which then fails if no app is booted).
        name (str | None): A name to register the scheduler under.
        **options (Any): Keywords passed on to :func:`cron_scheduler`.

    Raises:
        NameTaken: If another live process holds ``name``.
        ValueError: If ``name`` is not a valid process name.
        RuntimeError: If the node is shutting down.
    """

    async def main(proc: Process) -> None:
        await cron_scheduler(proc, registry, **options)

    main.__qualname__ = "cron_scheduler"
    if isinstance(via, Node):
        return via.spawn(main, name=name)
    return via.spawn(main, name=name, link=True)
