"""How much more CPU time the same code costs right after a short sleep on this machine.

``python -m bench._idle_penalty`` times a fixed piece of pure Python (300 attribute reads spread
over 20,000 objects) 800 times right after a 1 ms ``epoll`` wait, and 800 times back to back, and
prints both medians. On bare metal with a performance governor they are close; on the VMs we
measure on the first is 2-3x the second. That penalty is part of every real-time CPU-per-tick
figure, which is why ``ticking_warm`` exists (``_busy.py``, ``bench/README.md``). No runtime
is involved.
"""

from __future__ import annotations

import select
import statistics
import time

N_OBJECTS = 20_000
READS = 300
SAMPLES = 800


class _Obj:
    __slots__ = ("a", "b")

    def __init__(self) -> None:
        self.a = 1
        self.b = 2


def _work(objs: list[_Obj], offset: int) -> int:
    total = 0
    for i in range(READS):
        o = objs[(offset + i * 7919) % N_OBJECTS]
        total += o.a + o.b
    return total


def median_us(after_sleep: bool) -> float:
    """Median wall time of one piece of work, in microseconds."""
    objs = [_Obj() for _ in range(N_OBJECTS)]
    ep = select.epoll() if hasattr(select, "epoll") else None
    times = []
    for k in range(SAMPLES):
        if after_sleep:
            if ep is not None:
                ep.poll(0.001)
            else:  # pragma: no cover - not Linux
                time.sleep(0.001)
        t0 = time.perf_counter()
        _work(objs, k * READS)
        times.append(time.perf_counter() - t0)
    if ep is not None:
        ep.close()
    return statistics.median(times) * 1e6


def main() -> None:
    slept, busy = median_us(True), median_us(False)
    print(f"after a 1 ms sleep: {slept:.1f} us; back to back: {busy:.1f} us; {slept / busy:.2f}x")


if __name__ == "__main__":
    main()
