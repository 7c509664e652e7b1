"""Exits, links, monitors and forced stops.

A process task is ``run_process``: it awaits the process function and turns
however it ended into one ``Exit``, which ``finish`` delivers exactly once:
exit hooks (``call``, ``wait_exit``), monitors, then links. Forced stops
(``terminate``, untrapped ``LinkDown``, node shutdown) do not use a cancel
scope per process (that would cost ~860 bytes each); they interrupt the task
where it waits with ``_Kill`` through ``force_abort``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import trio
from trio.lowlevel import current_task

from ._crashlog import crash_log, function_label
from ._exceptions import Cancelled, LinkedProcessFailed, NoProc, ProcessNotFound, Terminated
from ._messages import Cancel, Exit, ExitReason, LinkDown
from ._pid import PID
from ._waiter import Kill as _Kill
from ._waiter import force_abort

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from ._node import Node
    from ._process import Process

logger = logging.getLogger("actors")


async def run_process(proc: Process, fn: Callable[..., Any], args: tuple[object, ...]) -> None:
    """The body of every process task (kept small: its frame exists once per process)."""
    proc._task = current_task()
    try:
        if proc._kill is not None:
            raise _Kill  # stopped before it ever ran
        result = await fn(proc, *args)
    except BaseException as exc:
        error = exc
    else:
        finish(proc, result, None, None)
        return
    # Outside the handler: a kill raised while delivering this exit (a link
    # cascade) must not get `error` as its __context__, or a chain of N
    # linked processes builds an N-long context chain that every raise walks.
    try:
        _ended_by(proc, error)
    finally:
        del error  # no frame <-> traceback cycle


def _ended_by(proc: Process, exc: BaseException) -> None:
    """Report a process that ended with ``exc``; re-raise what is not the process's own."""
    if proc._kill is not None and _only(exc, _Kill):
        finish(proc, None, proc._kill, None)
    elif _only(exc, Cancelled):
        finish(proc, None, None, None)  # a Cancel it did not catch: as if it returned
    elif isinstance(exc, Exception):
        finish(proc, None, exc, None)
    else:
        # The node's own scope was cancelled (or KeyboardInterrupt): report, then let it go.
        finish(proc, None, Terminated("node stopped"), ExitReason.SHUTDOWN)
        raise exc


def _only(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether ``exc`` is ``kind``, or a group of ``kind`` (and trio's cancellations)."""
    if isinstance(exc, kind):
        return True
    if isinstance(exc, BaseExceptionGroup):
        kills, rest = exc.split(kind)
        if kills is None:
            return False
        return rest is None or rest.split(trio.Cancelled)[1] is None
    return False


def _alive(proc: Process) -> bool:
    return proc._node._procs.get(proc.pid.seq) is proc


def finish(
    proc: Process, result: object, error: BaseException | None, forced: ExitReason | None
) -> None:
    """Remove ``proc`` from its node and deliver its ``Exit`` (once)."""
    node = proc._node
    if node._procs.pop(proc.pid.seq, None) is None:
        return
    node._pending_kills.discard(proc)
    proc.host.count -= 1
    if proc._names:
        for name in proc._names:
            if node._names.get(name) is proc:
                del node._names[name]
    kill = proc._kill
    if forced is not None:
        reason = forced
    elif kill is not None and error is kill:
        reason = proc._kill_reason or ExitReason.ERROR
    elif error is not None:
        reason = ExitReason.ERROR
    elif proc._cancel_requested or kill is not None:
        reason = ExitReason.SHUTDOWN
    else:
        reason = ExitReason.NORMAL
    if error is not None or logger.isEnabledFor(logging.DEBUG):
        _log_exit(proc, reason, error)
    if reason is ExitReason.NORMAL and (crashes := node.__dict__.get("_crash_log")):
        crashes.returned(proc.pid, proc._fn)  # a clean return after failures: recovered
    hooks, proc._exit_hooks = proc._exit_hooks, None
    watchers, proc._monitored_by = proc._monitored_by, None
    partners, proc._links = proc._links, None
    exit = None  # made only for someone who receives it (most exits have no one)
    if hooks or watchers is not None or partners is not None or node._exit_watchers:
        exit = Exit(proc.pid, reason, result, error, trio.current_time())
        for hook in hooks or ():
            hook(exit)
        for watch in tuple(node._exit_watchers):
            try:
                watch(exit)
            except Exception:
                logger.exception("exit watcher failed pid=%s", proc.pid)
    callbacks, proc._on_exit = proc._on_exit, None
    for callback in callbacks or ():
        try:
            callback()
        except Exception:
            logger.exception("on_exit callback failed pid=%s", proc.pid)

    if exit is not None:
        for watcher in relation(watchers):
            if _alive(watcher):
                watcher._post_event(exit)
        if partners is not None:
            _links_down(proc, partners, exit)

    if not node._procs and node._idle is not None:
        node._idle.set()
        node._idle = None


def _links_down(proc: Process, partners: Process | set[Process], exit: Exit) -> None:
    """Unlink ``proc``'s partners; if it failed, send each a ``LinkDown``."""
    error = exit.error
    function = None
    if error is not None and not isinstance(error, LinkedProcessFailed):
        function = function_name(proc)  # a LinkedProcessFailed carries its origin's
    for partner in relation(partners):
        remove_relation(partner, "_links", proc)
        if error is not None and _alive(partner):
            link_down(partner, LinkDown(proc.pid, exit.reason, error, exit.at), function)


def _log_exit(proc: Process, reason: ExitReason, error: BaseException | None) -> None:
    if reason is not ExitReason.ERROR or error is None:
        logger.debug("process exited pid=%s reason=%s", proc.pid, reason.value)
        return
    crashes = crash_log(proc._node)
    if isinstance(error, LinkedProcessFailed):
        crashes.count()
        logger.error("process exited pid=%s reason=linked error=%s", proc.pid, error)
    elif isinstance(error, Terminated):
        crashes.count()
        logger.warning("process terminated pid=%s", proc.pid)
    else:
        crashes.crashed(proc.pid, proc._fn, error)  # a traceback once per streak, then summaries


def function_name(proc: Process) -> str:
    """The name of the process function, as logs and errors show it (its label if set)."""
    return function_label(proc._fn)


def link_down(proc: Process, event: LinkDown, function: str | None = None) -> None:
    """Deliver ``event``: as an event if ``proc`` traps links, else by failing it.

    ``function`` names the failed partner's function (for the error's text).
    """
    if proc._trap_links:
        proc._post_event(event)
        return
    failure = LinkedProcessFailed(event.pid, event.error, function=function)
    reason = ExitReason.SHUTDOWN if event.reason is ExitReason.SHUTDOWN else ExitReason.ERROR
    kill(proc, failure, reason)


def terminate(proc: Process, *, shutdown: bool) -> None:
    """Stop ``proc`` by force: ``Terminated``, reason shutdown (orderly) or error."""
    why = "terminated by shutdown" if shutdown else "terminated"
    kill(proc, Terminated(why), ExitReason.SHUTDOWN if shutdown else ExitReason.ERROR)


def kill(proc: Process, error: BaseException, reason: ExitReason) -> None:
    """Make ``proc`` exit with ``error`` wherever it waits. The first kill wins."""
    if proc._kill is not None or not _alive(proc):
        return
    proc._kill = error
    proc._kill_reason = reason
    task = proc._task
    if task is None:
        return  # not started: run_process will not call the function
    if task is not current_task() and force_abort(task, _Kill()):
        # Aborted where it waited. It stays pending until it exits, so a
        # `finally:` that blocks again is interrupted again.
        pass
    node = proc._node
    node._pending_kills.add(proc)
    if not node._kill_retry_running:
        node._kill_retry_running = True
        node._nursery.start_soon(_retry_kills, node, name="actors.kill-retry")


def post_cancel(proc: Process, event: Cancel) -> None:
    """Deliver ``event`` to ``proc``; interrupt it unless it traps or reads its events.

    A process that does not trap cancels (the default) and is not waiting on
    ``proc.events`` (alone or in a ``select``) gets :class:`Cancelled` raised
    where it waits, or at its next wait unless it takes the ``Cancel`` from
    ``events`` first (``_retry_interrupts``). A process parked on its events
    receives the event instead, as one that traps always does.
    """
    proc._cancel_requested = True
    if not proc._trap_cancel:
        events = proc._events
        if events is None or events._waiter is None:
            interrupt(proc, Cancelled(event))
    proc._post_event(event)


def interrupt(proc: Process, error: BaseException) -> None:
    """Raise ``error`` in ``proc`` where it waits now, or at its next wait."""
    if proc._kill is not None or not _alive(proc):
        return
    task = proc._task
    if task is not None and task is not current_task() and force_abort(task, error):
        return
    node = proc._node
    node._pending_interrupts.setdefault(proc, error)
    if not node._kill_retry_running:
        node._kill_retry_running = True
        node._nursery.start_soon(_retry_kills, node, name="actors.kill-retry")


def _retry_interrupts(node: Node) -> None:
    pending = node._pending_interrupts
    for proc, error in list(pending.items()):
        task = proc._task
        if proc._kill is not None or not _alive(proc):
            del pending[proc]  # a kill or its exit came first
        elif _cancel_taken(proc, error) or proc._trap_cancel:
            del pending[proc]  # it read the Cancel from its events, or traps them now
        elif task is not None and force_abort(task, error):
            del pending[proc]


def _cancel_taken(proc: Process, error: BaseException) -> bool:
    """Whether the ``Cancel`` behind a pending ``Cancelled`` was already taken from events."""
    event = getattr(error, "event", None)
    if type(error) is not Cancelled or event is None:
        return False
    events = proc._events
    items = None if events is None else events._items
    return not items or all(queued is not event for queued in items)


async def _retry_kills(node: Node) -> None:
    """Keep interrupting killed processes until they are gone.

    Covers a process that killed itself (it was running), waits whose abort
    trio refuses (``to_thread``), and ``finally:`` blocks that wait again.
    Pending ``Cancelled`` interrupts (a process that was running when it got
    its ``Cancel``) are raised here too, once each, at its next wait.
    """
    rounds = 0
    try:
        while node._pending_kills or node._pending_interrupts:
            # A few scheduling rounds first (cheap, catches the common cases),
            # then back off so a long to_thread call does not spin the loop.
            if rounds < 8:
                await trio.lowlevel.checkpoint()
            else:
                await trio.sleep(0.001 * 2 ** min(rounds - 8, 6))  # at most 64 ms
            rounds += 1
            if node._pending_interrupts:
                _retry_interrupts(node)
            for proc in list(node._pending_kills):
                task = proc._task
                if not _alive(proc) or task is None:
                    node._pending_kills.discard(proc)
                else:
                    force_abort(task, _Kill())
    finally:
        node._kill_retry_running = False


# -- monitors and links ---------------------------------------------------------


def _dead_pid(dest: PID | str) -> PID:
    """The PID a failed resolution was about; names that resolve nowhere re-raise."""
    if isinstance(dest, PID):
        return dest
    if isinstance(dest, str) and dest.startswith("{"):
        return PID.parse(dest)
    raise ProcessNotFound(dest)


def monitor(watcher: Process, dest: PID | str) -> None:
    try:
        target = watcher._node._resolve(dest)
    except ProcessNotFound:
        pid = _dead_pid(dest)
        watcher._post_event(Exit(pid, ExitReason.ERROR, None, NoProc(pid), trio.current_time()))
        return
    if target is watcher:
        raise ValueError("a process cannot monitor itself")
    if target._is_remote:
        target._monitor(watcher)  # type: ignore[attr-defined]
        return
    add_relation(target, "_monitored_by", watcher)


def demonitor(watcher: Process, dest: PID | str) -> None:
    try:
        target = watcher._node._resolve(dest)
    except ProcessNotFound:
        pid = _dead_pid(dest)
    else:
        pid = target.pid
        if target._is_remote:
            target._demonitor(watcher)  # type: ignore[attr-defined]
        else:
            remove_relation(target, "_monitored_by", watcher)
    events = watcher._events
    if events is not None:
        events._remove_if(lambda ev: type(ev) is Exit and ev.pid == pid)


def link(proc: Process, dest: PID | str) -> None:
    try:
        target = proc._node._resolve(dest)
    except ProcessNotFound:
        pid = _dead_pid(dest)
        link_down(proc, LinkDown(pid, ExitReason.ERROR, NoProc(pid), trio.current_time()))
        return
    if target is proc:
        raise ValueError("a process cannot link to itself")
    if target._is_remote:
        target._link(proc)  # type: ignore[attr-defined]
        return
    add_relation(proc, "_links", target)
    add_relation(target, "_links", proc)


def unlink(proc: Process, dest: PID | str) -> None:
    try:
        target = proc._node._resolve(dest)
    except ProcessNotFound:
        return
    if target._is_remote:
        target._unlink(proc)  # type: ignore[attr-defined]
        return
    remove_relation(proc, "_links", target)
    remove_relation(target, "_links", proc)


# A relation slot holds None, one Process, or a set of them.


def relation(value: Process | set[Process] | None) -> Collection[Process]:
    if value is None:
        return ()
    if type(value) is set:
        return list(value)
    return (value,)  # type: ignore[return-value]


def add_relation(proc: Process, attr: str, other: Process) -> None:
    current = getattr(proc, attr)
    if current is None:
        setattr(proc, attr, other)
    elif type(current) is set:
        current.add(other)
    elif current is not other:
        setattr(proc, attr, {current, other})


def remove_relation(proc: Process, attr: str, other: Process) -> None:
    current = getattr(proc, attr)
    if current is other:
        setattr(proc, attr, None)
    elif type(current) is set:
        current.discard(other)
        if not current:
            setattr(proc, attr, None)
