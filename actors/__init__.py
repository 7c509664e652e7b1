"""Erlang-style processes on trio: PIDs, mailboxes, events, spawn/monitor/link.

Everything public is defined in a private module and re-exported here.
"""

from ._backoff import Backoff as Backoff
from ._backoff import BackoffState as BackoffState
from ._channel import Channel as Channel
from ._channel import ChannelStatistics as ChannelStatistics
from ._channel import SendCase as SendCase
from ._cron import CronTrigger as CronTrigger
from ._cronservice import CRON_TOPIC as CRON_TOPIC
from ._cronservice import CronEvent as CronEvent
from ._cronservice import cron_service as cron_service
from ._cronstore import InvalidJobId as InvalidJobId
from ._cronstore import Job as Job
from ._cronstore import JobExists as JobExists
from ._cronstore import JobNotFound as JobNotFound
from ._cronstore import JobStore as JobStore
from ._cronstore import MalformedJob as MalformedJob
from ._cronstore import Recovery as Recovery
from ._duration import DurationLike as DurationLike
from ._duration import format_duration as format_duration
from ._duration import parse_duration as parse_duration
from ._duration import require_period as require_period
from ._exceptions import CallFailed as CallFailed
from ._exceptions import CallTimeout as CallTimeout
from ._exceptions import HostLimitReached as HostLimitReached
from ._exceptions import LinkedProcessFailed as LinkedProcessFailed
from ._exceptions import MailboxFull as MailboxFull
from ._exceptions import NameTaken as NameTaken
from ._exceptions import NoProc as NoProc
from ._exceptions import ProcessNotFound as ProcessNotFound
from ._exceptions import Terminated as Terminated
from ._hosts import Host as Host
from ._logging import KeyValueLogger as KeyValueLogger
from ._logging import configure_logging as configure_logging
from ._logging import get_logger as get_logger
from ._mailbox import MailboxPolicy as MailboxPolicy
from ._mailbox import MessageQueue as MessageQueue
from ._messages import Cancel as Cancel
from ._messages import Event as Event
from ._messages import Exit as Exit
from ._messages import ExitReason as ExitReason
from ._messages import LinkDown as LinkDown
from ._messages import Message as Message
from ._messages import ProcessInfo as ProcessInfo
from ._messages import QueueStatistics as QueueStatistics
from ._node import Node as Node
from ._pid import PID as PID
from ._policies import CatchUpPlan as CatchUpPlan
from ._policies import CatchUpPolicy as CatchUpPolicy
from ._policies import Overlap as Overlap
from ._policies import is_misfire as is_misfire
from ._policies import plan_catch_up as plan_catch_up
from ._process import Process as Process
from ._run import current_node as current_node
from ._run import open_node as open_node
from ._run import run as run
from ._runner import Counts as Counts
from ._runner import Installed as Installed
from ._runner import Program as Program
from ._runner import ProgramInfo as ProgramInfo
from ._runner import ProgramNotFound as ProgramNotFound
from ._runner import Refused as Refused
from ._runner import RunContext as RunContext
from ._runner import Runner as Runner
from ._runner import Spawned as Spawned
from ._runner import SpawnInfo as SpawnInfo
from ._runner import Uninstalled as Uninstalled
from ._runner import Unspawned as Unspawned
from ._runner import default_merge as default_merge
from ._runner import start_runner as start_runner
from ._schedule import Fire as Fire
from ._schedule import Schedule as Schedule
from ._schedule import ScheduleEvent as ScheduleEvent
from ._schedule import ScheduleInfo as ScheduleInfo
from ._schedule import VirtualWallClock as VirtualWallClock
from ._schedule import WallClock as WallClock
from ._schedule import every as every
from ._schedule import resolve_wall_clock as resolve_wall_clock
from ._schedule import retime_schedule as retime_schedule
from ._schedule import run_schedule as run_schedule
from ._schedule import schedule_info as schedule_info
from ._schedule import start_schedule as start_schedule
from ._schedule import system_wall_clock as system_wall_clock
from ._select import Selected as Selected
from ._select import select as select
from ._server import NOREPLY as NOREPLY
from ._server import Server as Server
from ._server import serve as serve
from ._server import start_server as start_server
from ._service import ServiceError as ServiceError
from ._service import ServiceSpec as ServiceSpec
from ._service import ServiceState as ServiceState
from ._service import ServiceStatus as ServiceStatus
from ._service import dependency_order as dependency_order
from ._service import notify_ready as notify_ready
from ._service_handle import ServiceManager as ServiceManager
from ._service_handle import start_services as start_services
from ._supervisor import delete_child as delete_child
from ._supervisor import restart_child as restart_child
from ._supervisor import start_child as start_child
from ._supervisor import start_supervisor as start_supervisor
from ._supervisor import supervise as supervise
from ._supervisor import terminate_child as terminate_child
from ._supervisor import which_children as which_children
from ._supervisor_spec import ChildInfo as ChildInfo
from ._supervisor_spec import ChildSpec as ChildSpec
from ._supervisor_spec import Restart as Restart
from ._supervisor_spec import Strategy as Strategy
from ._supervisor_spec import SupervisorEscalation as SupervisorEscalation
from ._supervisor_spec import SupervisorSpec as SupervisorSpec
from ._timers import TICKER_BUFFER as TICKER_BUFFER
from ._timers import Ticker as Ticker
from ._timers import Timer as Timer
from ._timers import after as after
from ._timers import sleep as sleep
from ._timers import ticker as ticker
from ._timers import timer as timer
from ._timerservice import TimerStatistics as TimerStatistics
from ._timerservice import timer_statistics as timer_statistics
from ._triggerdrain import RetryPolicy as RetryPolicy
from ._triggerfiles import MalformedTrigger as MalformedTrigger
from ._triggerfiles import Trigger as TriggerFile
from ._triggerfiles import write_trigger as write_trigger
from ._triggers import FirePlan as FirePlan
from ._triggers import IntervalTrigger as IntervalTrigger
from ._triggers import OnceTrigger as OnceTrigger
from ._triggers import Trigger as Trigger
from ._triggers import apply_jitter as apply_jitter

__all__ = [
    "CRON_TOPIC",
    "NOREPLY",
    "PID",
    "TICKER_BUFFER",
    "Backoff",
    "BackoffState",
    "CallFailed",
    "CallTimeout",
    "Cancel",
    "CatchUpPlan",
    "CatchUpPolicy",
    "Channel",
    "ChannelStatistics",
    "ChildInfo",
    "ChildSpec",
    "Counts",
    "CronEvent",
    "CronTrigger",
    "DurationLike",
    "Event",
    "Exit",
    "ExitReason",
    "Fire",
    "FirePlan",
    "Host",
    "HostLimitReached",
    "Installed",
    "IntervalTrigger",
    "InvalidJobId",
    "Job",
    "JobExists",
    "JobNotFound",
    "JobStore",
    "KeyValueLogger",
    "LinkDown",
    "LinkedProcessFailed",
    "MailboxFull",
    "MailboxPolicy",
    "MalformedJob",
    "MalformedTrigger",
    "Message",
    "MessageQueue",
    "NameTaken",
    "NoProc",
    "Node",
    "OnceTrigger",
    "Overlap",
    "Process",
    "ProcessInfo",
    "ProcessNotFound",
    "Program",
    "ProgramInfo",
    "ProgramNotFound",
    "QueueStatistics",
    "Recovery",
    "Refused",
    "Restart",
    "RetryPolicy",
    "RunContext",
    "Runner",
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
    "SpawnInfo",
    "Spawned",
    "Strategy",
    "SupervisorEscalation",
    "SupervisorSpec",
    "Terminated",
    "Ticker",
    "Timer",
    "TimerStatistics",
    "Trigger",
    "TriggerFile",
    "Uninstalled",
    "Unspawned",
    "VirtualWallClock",
    "WallClock",
    "after",
    "apply_jitter",
    "configure_logging",
    "cron_service",
    "current_node",
    "default_merge",
    "delete_child",
    "dependency_order",
    "every",
    "format_duration",
    "get_logger",
    "is_misfire",
    "notify_ready",
    "open_node",
    "parse_duration",
    "plan_catch_up",
    "require_period",
    "resolve_wall_clock",
    "restart_child",
    "retime_schedule",
    "run",
    "run_schedule",
    "schedule_info",
    "select",
    "serve",
    "sleep",
    "start_child",
    "start_runner",
    "start_schedule",
    "start_server",
    "start_services",
    "start_supervisor",
    "supervise",
    "system_wall_clock",
    "terminate_child",
    "ticker",
    "timer",
    "timer_statistics",
    "which_children",
    "write_trigger",
]
