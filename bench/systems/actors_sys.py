"""The ``actors`` runtime under test.  Pending: the lead fills this in when the kernel lands.

Contract (same as every adapter in this package; see ``bench/systems/trio_naive.py``):
``spawn(n)``, ``idle_memory(n, probe)``, ``ticking(n, seconds, tick_min, tick_max, warmup)``,
``pingpong(rounds)``, ``fanin(senders, messages)``, ``call_reply(rounds)``, each returning a dict of
metrics (names in ``bench._common.UNITS``) and passing it through ``bench._common.deliver`` before
any teardown.  Raising :class:`NotImplementedError` makes the runner record "not available".
Suggested shape for ticking: N processes each on a node ticker (one timer task), sending their
scheduled time to one collector process whose receive drains queued messages.
"""

from __future__ import annotations

from bench._common import MemoryProbe, Metrics

NAME = "actors"
PENDING = "actors adapter pending kernel"


def spawn(n: int) -> Metrics:
    raise NotImplementedError(PENDING)


def idle_memory(n: int, probe: MemoryProbe) -> Metrics:
    raise NotImplementedError(PENDING)


def ticking(
    n: int, seconds: float, tick_min: float, tick_max: float, warmup: float = 1.0
) -> Metrics:
    raise NotImplementedError(PENDING)


def pingpong(rounds: int) -> Metrics:
    raise NotImplementedError(PENDING)


def fanin(senders: int, messages: int) -> Metrics:
    raise NotImplementedError(PENDING)


def call_reply(rounds: int) -> Metrics:
    raise NotImplementedError(PENDING)
