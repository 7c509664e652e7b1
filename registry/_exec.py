"""``actors run DIR -x ENTRY``: boot an app, run one process entry as the program, then stop.

Wippy's ``wippy run -x app:cli``: the app boots as usual (hosts, env, ``auto_start`` services),
then the ``process`` entry ``ENTRY`` is spawned with no arguments on the node's default host
(``{main|0x...}``) and the command waits for it. When it ends, the app is stopped the ordinary
way (services in reverse dependency order, then the other processes, terminate after
``--grace``) and the command exits with the process's status:

- it returned ``None`` or a value that is not an ``int``: 0; an ``int`` in 0..255: that value;
  any other ``int`` (or a ``bool``): 1, with a warning naming it;
- it raised (the kernel logs the crash with its traceback) or was terminated: 1;
- SIGINT/SIGTERM while it runs send it ``Cancel("interrupted")``; a process that then
  returns (or lets ``actors.Cancelled`` end it) gives its status as above, so Ctrl+C on a
  well-behaved program exits 0 (a first signal after it ended changes nothing: the app is
  already stopping); a second signal stops everything at once: exit 1;
- the app stops unclean (some process had to be terminated at the end): 1, whatever the
  program returned.

``ENTRY`` must be a ``process`` entry of the app; anything else is exit 2 before anything runs,
with the app's process entries listed. No control socket is opened in this mode.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from functools import partial

import trio

import actors
from actors import PID

from ._boot import AppPlan, boot_app
from ._exceptions import IndexFileError, Problem

EXIT_OK = 0
EXIT_FAILED = 1

log = actors.get_logger("actors.app")


def check_exec_entry(plan: AppPlan, entry_id: str) -> None:
    """Check that ``entry_id`` names a ``process`` entry of the app.

    Raises:
        IndexFileError: naming the entry (and its kind, or the process entries there are).
    """
    found = next((entry for entry in plan.entries if entry.id == entry_id), None)
    if found is not None and found.kind == "process":
        return
    processes = ", ".join(entry.id for entry in plan.entries if entry.kind == "process")
    if found is None:
        message = f"-x {entry_id}: no entry with this id in the app"
    else:
        message = f"-x {entry_id}: the entry is a {found.kind}, not a process"
    problem = Problem(f"{message} (process entries: {processes or 'none'})", str(plan.root))
    raise IndexFileError([problem])


def exit_status(exit: actors.Exit) -> int:
    """The command's exit status for the program process's ``Exit`` (see the module doc)."""
    if exit.error is not None:
        return EXIT_FAILED
    result = exit.result
    if isinstance(result, bool) or (isinstance(result, int) and not 0 <= result <= 255):
        log.warning("Exit status out of range", result=repr(result), status=EXIT_FAILED)
        return EXIT_FAILED
    if isinstance(result, int):
        return result
    return EXIT_OK


async def exec_main(plan: AppPlan, entry_id: str, grace: float) -> int:
    """Boot ``plan``, run ``entry_id`` until it ends (or a signal), stop the app; the status."""
    terminated: list[PID] = []
    status = EXIT_FAILED
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as outer:
            with trio.CancelScope() as forced:
                async with actors.open_node(shutdown_grace=grace) as node:
                    app = await boot_app(node, plan)
                    pid = node.spawn(app.process(entry_id))
                    log.info("Program started", entry=entry_id, pid=pid)
                    outer.start_soon(_on_signals, signals, node, pid, forced)
                    exit = await node.wait_exit(pid)
                    status = exit_status(exit)
                    log.info("Program exited", entry=entry_id, status=status)
                    node.watch_exits(partial(_note_terminated, terminated))
            outer.cancel_scope.cancel()
    if forced.cancelled_caught:
        log.warning("App stopped", clean="false", forced="true")
        return EXIT_FAILED
    if terminated:
        shown = " ".join(str(pid) for pid in sorted(terminated)[:10])
        log.warning("App stopped", clean="false", terminated=len(terminated), pids=shown)
        return EXIT_FAILED
    log.info("App stopped", clean="true", status=status)
    return status


async def _on_signals(
    signals: AsyncIterator[int],
    node: actors.Node,
    pid: PID,
    forced: trio.CancelScope,
) -> None:
    """First signal: ``Cancel`` the program (if it still runs); the next one: stop at once."""
    interrupted = False
    async for signum in signals:
        name = _signal_name(signum)
        if not interrupted:
            interrupted = True
            log.info("Interrupted", signal=name, pid=pid)
            if node.is_alive(pid):  # else it just ended: the app is stopping anyway
                node.cancel(pid, "interrupted")
            continue
        log.warning("Forcing stop", signal=name)
        forced.cancel()
        return


def _note_terminated(terminated: list[PID], exit: actors.Exit) -> None:
    if isinstance(exit.error, actors.Terminated):
        terminated.append(exit.pid)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)
