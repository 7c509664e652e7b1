"""Erlang-style processes on trio: PIDs, mailboxes, events, spawn/monitor/link.

Everything public is defined in a private module and re-exported here.
"""

from ._backoff import Backoff as Backoff
from ._backoff import BackoffState as BackoffState
from ._channel import Channel as Channel
from ._channel import ChannelStatistics as ChannelStatistics
from ._channel import SendCase as SendCase
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
from ._node import Host as Host
from ._node import Node as Node
from ._pid import PID as PID
from ._process import Process as Process
from ._run import current_node as current_node
from ._run import open_node as open_node
from ._run import run as run
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
from ._service_manager import ServiceManager as ServiceManager
from ._service_manager import start_services as start_services
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

__all__ = [
    "Backoff",
    "BackoffState",
    "CRON_TOPIC",
    "CallFailed",
    "CallTimeout",
    "Cancel",
    "Channel",
    "ChannelStatistics",
    "ChildInfo",
    "ChildSpec",
    "CronEvent",
    "DurationLike",
    "Event",
    "Exit",
    "ExitReason",
    "Host",
    "HostLimitReached",
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
    "NOREPLY",
    "NameTaken",
    "NoProc",
    "Node",
    "PID",
    "Process",
    "ProcessInfo",
    "ProcessNotFound",
    "QueueStatistics",
    "Recovery",
    "Restart",
    "RetryPolicy",
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
    "TICKER_BUFFER",
    "Terminated",
    "Ticker",
    "Timer",
    "TimerStatistics",
    "TriggerFile",
    "after",
    "configure_logging",
    "cron_service",
    "current_node",
    "delete_child",
    "dependency_order",
    "format_duration",
    "get_logger",
    "notify_ready",
    "open_node",
    "parse_duration",
    "require_period",
    "restart_child",
    "run",
    "select",
    "serve",
    "sleep",
    "start_child",
    "start_server",
    "start_services",
    "start_supervisor",
    "supervise",
    "terminate_child",
    "ticker",
    "timer",
    "timer_statistics",
    "which_children",
    "write_trigger",
]
