"""Erlang-style processes on trio: PIDs, mailboxes, events, spawn/monitor/link.

What an actor author uses every day: processes and nodes, messages and events, time and
``select``, supervision, services, ``Server``, triggers and schedules, and logging. The durable
cron is :mod:`actors.cron`, std.scheduler's runner :mod:`actors.runner`, and the lower-level
pieces (queue and timer statistics, planning functions) :mod:`actors.lowlevel`.

Every public name is defined in a private module and re-exported once, here or in one of
those namespaces (see docs/architecture.md for the folders). Names are imported on first use
(module ``__getattr__``), so ``import actors`` itself is cheap: the ``actors`` command starts
without trio, and croniter, msgspec and ``trio.testing`` load only when something needs them.
The first name used also loads the time layer (the kernel's time source).
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING

if _TYPE_CHECKING:
    from . import cron as cron
    from . import lowlevel as lowlevel
    from . import runner as runner
    from ._core._exceptions import CallFailed as CallFailed
    from ._core._exceptions import CallTimeout as CallTimeout
    from ._core._exceptions import Cancelled as Cancelled
    from ._core._exceptions import HostLimitReached as HostLimitReached
    from ._core._exceptions import LinkedProcessFailed as LinkedProcessFailed
    from ._core._exceptions import MailboxFull as MailboxFull
    from ._core._exceptions import NameTaken as NameTaken
    from ._core._exceptions import NoProc as NoProc
    from ._core._exceptions import ProcessNotFound as ProcessNotFound
    from ._core._exceptions import Terminated as Terminated
    from ._core._gc import GcPolicy as GcPolicy
    from ._core._hosts import Host as Host
    from ._core._logging import KeyValueLogger as KeyValueLogger
    from ._core._logging import configure_logging as configure_logging
    from ._core._logging import get_logger as get_logger
    from ._core._mailbox import MailboxPolicy as MailboxPolicy
    from ._core._messages import Cancel as Cancel
    from ._core._messages import Event as Event
    from ._core._messages import Exit as Exit
    from ._core._messages import ExitReason as ExitReason
    from ._core._messages import LinkDown as LinkDown
    from ._core._messages import Message as Message
    from ._core._messages import ProcessInfo as ProcessInfo
    from ._core._node import Node as Node
    from ._core._pid import PID as PID
    from ._core._process import Process as Process
    from ._core._run import current_node as current_node
    from ._core._run import open_node as open_node
    from ._core._run import run as run
    from ._core._threads import run_sync_in_thread as run_sync_in_thread
    from ._core._timing import Ticker as Ticker
    from ._core._timing import Timer as Timer
    from ._core._watchdog import WatchdogPolicy as WatchdogPolicy
    from ._patterns._bus import BusEvent as BusEvent
    from ._patterns._bus import bus as bus
    from ._patterns._groups import GroupEvent as GroupEvent
    from ._patterns._groups import groups as groups
    from ._patterns._metrics import metrics as metrics
    from ._patterns._pool import pool as pool
    from ._patterns._pool import start_pool as start_pool
    from ._scheduling._cron import CronTrigger as CronTrigger
    from ._scheduling._policies import CatchUpPolicy as CatchUpPolicy
    from ._scheduling._policies import Overlap as Overlap
    from ._scheduling._run import retime_schedule as retime_schedule
    from ._scheduling._run import run_schedule as run_schedule
    from ._scheduling._run import schedule_info as schedule_info
    from ._scheduling._run import start_schedule as start_schedule
    from ._scheduling._schedule import Fire as Fire
    from ._scheduling._schedule import Schedule as Schedule
    from ._scheduling._schedule import ScheduleEvent as ScheduleEvent
    from ._scheduling._schedule import ScheduleInfo as ScheduleInfo
    from ._scheduling._schedule import VirtualWallClock as VirtualWallClock
    from ._scheduling._schedule import WallClock as WallClock
    from ._scheduling._schedule import every as every
    from ._scheduling._schedule import resolve_wall_clock as resolve_wall_clock
    from ._scheduling._schedule import system_wall_clock as system_wall_clock
    from ._scheduling._triggers import IntervalTrigger as IntervalTrigger
    from ._scheduling._triggers import OnceTrigger as OnceTrigger
    from ._scheduling._triggers import Trigger as Trigger
    from ._supervision._backoff import Backoff as Backoff
    from ._supervision._backoff import BackoffState as BackoffState
    from ._supervision._manager import ServiceManager as ServiceManager
    from ._supervision._manager import start_services as start_services
    from ._supervision._restart import ChildInfo as ChildInfo
    from ._supervision._restart import Restart as Restart
    from ._supervision._restart import Strategy as Strategy
    from ._supervision._restart import SupervisorEscalation as SupervisorEscalation
    from ._supervision._server import NOREPLY as NOREPLY
    from ._supervision._server import Server as Server
    from ._supervision._server import serve as serve
    from ._supervision._server import start_server as start_server
    from ._supervision._service import ServiceError as ServiceError
    from ._supervision._service import ServiceSpec as ServiceSpec
    from ._supervision._service import ServiceState as ServiceState
    from ._supervision._service import ServiceStatus as ServiceStatus
    from ._supervision._service import notify_ready as notify_ready
    from ._supervision._spec import ChildSpec as ChildSpec
    from ._supervision._spec import SupervisorSpec as SupervisorSpec
    from ._supervision._spec import start_supervisor as start_supervisor
    from ._supervision._supervisor import delete_child as delete_child
    from ._supervision._supervisor import restart_child as restart_child
    from ._supervision._supervisor import start_child as start_child
    from ._supervision._supervisor import supervise as supervise
    from ._supervision._supervisor import terminate_child as terminate_child
    from ._supervision._supervisor import which_children as which_children
    from ._time._channel import Channel as Channel
    from ._time._channel import SendCase as SendCase
    from ._time._duration import DurationLike as DurationLike
    from ._time._duration import format_duration as format_duration
    from ._time._duration import parse_duration as parse_duration
    from ._time._select import Selected as Selected
    from ._time._select import select as select
    from ._time._timers import after as after
    from ._time._timers import sleep as sleep
    from ._time._timers import ticker as ticker
    from ._time._timers import timer as timer

_WHERE: dict[str, str] = {
    "cron": ".cron",
    "lowlevel": ".lowlevel",
    "runner": ".runner",
    "CallFailed": "._core._exceptions",
    "CallTimeout": "._core._exceptions",
    "Cancelled": "._core._exceptions",
    "HostLimitReached": "._core._exceptions",
    "LinkedProcessFailed": "._core._exceptions",
    "MailboxFull": "._core._exceptions",
    "NameTaken": "._core._exceptions",
    "NoProc": "._core._exceptions",
    "ProcessNotFound": "._core._exceptions",
    "Terminated": "._core._exceptions",
    "GcPolicy": "._core._gc",
    "Host": "._core._hosts",
    "KeyValueLogger": "._core._logging",
    "configure_logging": "._core._logging",
    "get_logger": "._core._logging",
    "MailboxPolicy": "._core._mailbox",
    "Cancel": "._core._messages",
    "Event": "._core._messages",
    "Exit": "._core._messages",
    "ExitReason": "._core._messages",
    "LinkDown": "._core._messages",
    "Message": "._core._messages",
    "ProcessInfo": "._core._messages",
    "Node": "._core._node",
    "PID": "._core._pid",
    "Process": "._core._process",
    "current_node": "._core._run",
    "open_node": "._core._run",
    "run": "._core._run",
    "run_sync_in_thread": "._core._threads",
    "Ticker": "._core._timing",
    "Timer": "._core._timing",
    "WatchdogPolicy": "._core._watchdog",
    "BusEvent": "._patterns._bus",
    "bus": "._patterns._bus",
    "GroupEvent": "._patterns._groups",
    "groups": "._patterns._groups",
    "metrics": "._patterns._metrics",
    "pool": "._patterns._pool",
    "start_pool": "._patterns._pool",
    "CronTrigger": "._scheduling._cron",
    "CatchUpPolicy": "._scheduling._policies",
    "Overlap": "._scheduling._policies",
    "retime_schedule": "._scheduling._run",
    "run_schedule": "._scheduling._run",
    "schedule_info": "._scheduling._run",
    "start_schedule": "._scheduling._run",
    "Fire": "._scheduling._schedule",
    "Schedule": "._scheduling._schedule",
    "ScheduleEvent": "._scheduling._schedule",
    "ScheduleInfo": "._scheduling._schedule",
    "VirtualWallClock": "._scheduling._schedule",
    "WallClock": "._scheduling._schedule",
    "every": "._scheduling._schedule",
    "resolve_wall_clock": "._scheduling._schedule",
    "system_wall_clock": "._scheduling._schedule",
    "IntervalTrigger": "._scheduling._triggers",
    "OnceTrigger": "._scheduling._triggers",
    "Trigger": "._scheduling._triggers",
    "Backoff": "._supervision._backoff",
    "BackoffState": "._supervision._backoff",
    "ServiceManager": "._supervision._manager",
    "start_services": "._supervision._manager",
    "ChildInfo": "._supervision._restart",
    "Restart": "._supervision._restart",
    "Strategy": "._supervision._restart",
    "SupervisorEscalation": "._supervision._restart",
    "NOREPLY": "._supervision._server",
    "Server": "._supervision._server",
    "serve": "._supervision._server",
    "start_server": "._supervision._server",
    "ServiceError": "._supervision._service",
    "ServiceSpec": "._supervision._service",
    "ServiceState": "._supervision._service",
    "ServiceStatus": "._supervision._service",
    "notify_ready": "._supervision._service",
    "ChildSpec": "._supervision._spec",
    "SupervisorSpec": "._supervision._spec",
    "start_supervisor": "._supervision._spec",
    "delete_child": "._supervision._supervisor",
    "restart_child": "._supervision._supervisor",
    "start_child": "._supervision._supervisor",
    "supervise": "._supervision._supervisor",
    "terminate_child": "._supervision._supervisor",
    "which_children": "._supervision._supervisor",
    "Channel": "._time._channel",
    "SendCase": "._time._channel",
    "DurationLike": "._time._duration",
    "format_duration": "._time._duration",
    "parse_duration": "._time._duration",
    "Selected": "._time._select",
    "select": "._time._select",
    "after": "._time._timers",
    "sleep": "._time._timers",
    "ticker": "._time._timers",
    "timer": "._time._timers",
}
"""Where each public name is defined (imported on first use: ``__getattr__``)."""

__version__ = "0.2.0"


def __getattr__(name: str) -> object:
    """Import a public name on first use (and the time layer with the first one)."""
    where = _WHERE.get(name)
    if where is None:
        if name == "cluster":
            return _importlib.import_module(".cluster", __name__)
        raise AttributeError(f"module 'actors' has no attribute {name!r}")
    _importlib.import_module("._time", __name__)  # installs the timer service (once)
    module = _importlib.import_module(where, __name__)
    value = module if where == f".{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "NOREPLY",
    "PID",
    "Backoff",
    "BackoffState",
    "BusEvent",
    "CallFailed",
    "CallTimeout",
    "Cancel",
    "Cancelled",
    "CatchUpPolicy",
    "Channel",
    "ChildInfo",
    "ChildSpec",
    "CronTrigger",
    "DurationLike",
    "Event",
    "Exit",
    "ExitReason",
    "Fire",
    "GcPolicy",
    "GroupEvent",
    "Host",
    "HostLimitReached",
    "IntervalTrigger",
    "KeyValueLogger",
    "LinkDown",
    "LinkedProcessFailed",
    "MailboxFull",
    "MailboxPolicy",
    "Message",
    "NameTaken",
    "NoProc",
    "Node",
    "OnceTrigger",
    "Overlap",
    "Process",
    "ProcessInfo",
    "ProcessNotFound",
    "Restart",
    "Schedule",
    "ScheduleEvent",
    "ScheduleInfo",
    "Selected",
    "SendCase",
    "Server",
    "ServiceError",
    "ServiceManager",
    "ServiceSpec",
    "ServiceState",
    "ServiceStatus",
    "Strategy",
    "SupervisorEscalation",
    "SupervisorSpec",
    "Terminated",
    "Ticker",
    "Timer",
    "Trigger",
    "VirtualWallClock",
    "WallClock",
    "WatchdogPolicy",
    "after",
    "bus",
    "cluster",
    "configure_logging",
    "cron",
    "current_node",
    "delete_child",
    "every",
    "format_duration",
    "get_logger",
    "groups",
    "lowlevel",
    "metrics",
    "notify_ready",
    "open_node",
    "parse_duration",
    "pool",
    "resolve_wall_clock",
    "restart_child",
    "retime_schedule",
    "run",
    "run_schedule",
    "run_sync_in_thread",
    "runner",
    "schedule_info",
    "select",
    "serve",
    "sleep",
    "start_child",
    "start_pool",
    "start_schedule",
    "start_server",
    "start_services",
    "start_supervisor",
    "supervise",
    "system_wall_clock",
    "terminate_child",
    "ticker",
    "timer",
    "which_children",
]
