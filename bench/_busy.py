"""Keep the measuring CPU busy, so that CPU time is not inflated by the VM's idle penalty.

On the VMs we measure on, the same Python code costs about twice the CPU time when it runs in
short bursts between ~1 ms sleeps as when it runs back to back (``bench/README.md`` has the
numbers). A ticking run sleeps about a thousand times a second, so CPU per tick includes that
penalty, and more of it for the system that does less per wake-up. The ``ticking_warm``
workload repeats the ticking measurement with the worker pinned to one CPU next to a spinner
that runs under ``SCHED_IDLE``: it gets the CPU only when the worker does not want it, so the
worker keeps its latency, and the CPU never idles. The worker's own CPU time
(``time.process_time()``) does not include the spinner's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

#: The spinner: lowest scheduling class, ends by itself once its parent is gone.
SPIN = """
import os, sys
os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
parent = int(sys.argv[1])
sys.stdout.write("spinning\\n")
sys.stdout.flush()
while os.getppid() == parent:
    for _ in range(100_000):
        pass
"""

_spinner: subprocess.Popen[str] | None = None


def supported() -> bool:
    """Whether this platform can pin processes and run one under ``SCHED_IDLE``."""
    return hasattr(os, "sched_setaffinity") and hasattr(os, "SCHED_IDLE")


@contextmanager
def cpu_kept_busy() -> Iterator[int]:
    """Pin this process to one CPU and start an idle-class spinner there; yield the CPU.

    Raises:
        NotImplementedError: Where ``sched_setaffinity`` or ``SCHED_IDLE`` is missing.
    """
    global _spinner
    if not supported():
        raise NotImplementedError("needs Linux sched_setaffinity and SCHED_IDLE")
    allowed = os.sched_getaffinity(0)
    cpu = max(allowed)
    os.sched_setaffinity(0, {cpu})  # the spinner inherits the pinning
    try:
        _spinner = subprocess.Popen(
            [sys.executable, "-c", SPIN, str(os.getpid())], stdout=subprocess.PIPE, text=True
        )
        assert _spinner.stdout is not None
        if _spinner.stdout.readline().strip() != "spinning":
            raise RuntimeError("the CPU spinner did not start")
        yield cpu
    finally:
        release()
        os.sched_setaffinity(0, allowed)


def release() -> None:
    """Stop the spinner (the worker calls this before ``os._exit``)."""
    global _spinner
    spinner, _spinner = _spinner, None
    if spinner is not None:
        spinner.kill()
        spinner.wait()
        if spinner.stdout is not None:
            spinner.stdout.close()
