"""The lower-level pieces of actors: queue, node and timer statistics, and the pure planners.

For code that builds on the runtime rather than with it: the control endpoint an embedded node
may open (``open_control_endpoint``; ``actors run`` opens it itself), the mailbox queue type and
the statistics snapshots, the node timer service's counters, and the pure functions the scheduler
and the durable cron plan with (misfires, catch-up, jitter). Everything here is re-exported
once from a private module, like ``actors`` itself.
"""

from ._control._errors import ControlError as ControlError
from ._control._metrics import serve_metrics as serve_metrics
from ._control._server import open_control_endpoint as open_control_endpoint
from ._control._server import socket_path as control_socket_path
from ._core._mailbox import MessageQueue as MessageQueue
from ._core._messages import NodeStatistics as NodeStatistics
from ._core._messages import QueueLength as QueueLength
from ._core._messages import QueueStatistics as QueueStatistics
from ._core._messages import Stall as Stall
from ._patterns._bus import BusStatistics as BusStatistics
from ._patterns._bus import EventBus as EventBus
from ._patterns._groups import ProcessGroups as ProcessGroups
from ._patterns._groups import ProcessGroupStatistics as ProcessGroupStatistics
from ._patterns._metrics import Metrics as Metrics
from ._patterns._pool import Pool as Pool
from ._patterns._pool import PoolStatistics as PoolStatistics
from ._patterns._series import Counter as Counter
from ._patterns._series import Gauge as Gauge
from ._patterns._series import Histogram as Histogram
from ._patterns._series import MetricSnapshot as MetricSnapshot
from ._patterns._series import SeriesSnapshot as SeriesSnapshot
from ._scheduling._policies import CatchUpPlan as CatchUpPlan
from ._scheduling._policies import is_misfire as is_misfire
from ._scheduling._policies import plan_catch_up as plan_catch_up
from ._scheduling._triggers import FirePlan as FirePlan
from ._scheduling._triggers import apply_jitter as apply_jitter
from ._supervision._service import dependency_order as dependency_order
from ._time._channel import ChannelStatistics as ChannelStatistics
from ._time._duration import require_period as require_period
from ._time._service import TimerStatistics as TimerStatistics
from ._time._service import timer_statistics as timer_statistics
from ._time._timers import TICKER_BUFFER as TICKER_BUFFER

__all__ = [
    "TICKER_BUFFER",
    "BusStatistics",
    "CatchUpPlan",
    "ChannelStatistics",
    "ControlError",
    "Counter",
    "EventBus",
    "FirePlan",
    "Gauge",
    "Histogram",
    "MessageQueue",
    "MetricSnapshot",
    "Metrics",
    "NodeStatistics",
    "Pool",
    "PoolStatistics",
    "ProcessGroupStatistics",
    "ProcessGroups",
    "QueueLength",
    "QueueStatistics",
    "SeriesSnapshot",
    "Stall",
    "TimerStatistics",
    "apply_jitter",
    "control_socket_path",
    "dependency_order",
    "is_misfire",
    "open_control_endpoint",
    "plan_catch_up",
    "require_period",
    "serve_metrics",
    "timer_statistics",
]
