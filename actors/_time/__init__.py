"""Time and waiting: durations, the node timer service, timers, tickers, sleep, channels, select.

The timer service (``_service``) keeps every pending deadline of a node in a calendar
(``_calendar``) and fires due entries from trio's own run loop; ``_timers`` holds the handles
(``Timer``, ``Ticker``) and ``sleep``. ``select`` waits on mailbox queues, channels and timers
alike through the kernel's wake-up protocol.

May import: the kernel (``actors._core``). Importing this package installs the timer service
as the kernel's time source (``Process.after``/``timer``/``ticker``/``sleep``).
"""

from .._core import _timing
from . import _timers

_timing.install(_timers.TIME_SOURCE)
