"""A kit for testing actor apps: a test node on virtual time, probes, time travel, faults, logs.

``open_test_node()`` (or the pytest fixture ``actors_node``, or ``run_test`` for other runners)
gives a :class:`TestNode`: the node, a wall clock that moves with trio's virtual clock, probes
(recording test processes with ``expect_*``), stubs (processes answering calls from a table),
time travel (``sleep``, ``jump``, ``jump_to``, ``suspend``, ``step_wall``) and fault injection
(``crash``, ``terminate``, ``drop``, ``delay``). ``thread_time`` says how much virtual time a
blocking call (``run_sync_in_thread``) takes: none by default. ``capture_logs`` asserts on
``key=value`` log lines; ``trigger_fires`` lists a trigger's fires in a window. See
docs/testing.md.

The pytest plugin (``actors.testing._plugin``, registered as the ``actors`` pytest11 entry
point) is not imported here, so the kit works without pytest.

May import: actors._core, actors._time, actors._supervision, actors._scheduling (and pytest in
the plugin module only).
"""

from ._faults import FaultRule as FaultRule
from ._faults import Stub as Stub
from ._logs import LogCapture as LogCapture
from ._logs import LogLine as LogLine
from ._logs import capture_logs as capture_logs
from ._node import TestNode as TestNode
from ._node import open_test_node as open_test_node
from ._node import run_test as run_test
from ._node import trigger_fires as trigger_fires
from ._probe import ExpectationFailed as ExpectationFailed
from ._probe import Probe as Probe
from ._threads import thread_time as thread_time

__all__ = [
    "ExpectationFailed",
    "FaultRule",
    "LogCapture",
    "LogLine",
    "Probe",
    "Stub",
    "TestNode",
    "capture_logs",
    "open_test_node",
    "run_test",
    "thread_time",
    "trigger_fires",
]
