"""The worker parent: restarts with backoff, SIGTERM then SIGKILL on stop (real processes)."""

from __future__ import annotations

import sys

import pytest
import trio
from conftest import until

from actors import Backoff
from actors.cluster._workers import WorkerExit, supervise_workers

pytestmark = [pytest.mark.real_time, pytest.mark.slow]

FAST = Backoff(initial=0.05, factor=2.0, max_delay=0.2, jitter=0)


async def test_a_crashing_worker_is_restarted_as_a_new_incarnation() -> None:
    exits: list[WorkerExit] = []
    seen: list[tuple[str, int]] = []

    def command(name: str, incarnation: int) -> list[str]:
        seen.append((name, incarnation))
        return [sys.executable, "-c", "import sys; sys.exit(3)"]

    stop = trio.Event()
    async with trio.open_nursery() as nursery:

        async def run() -> None:
            code = await supervise_workers(
                ["a", "b"], command, stop, backoff=FAST, on_exit=exits.append
            )
            assert code != 0  # the last runs ended by SIGTERM (-15) or code 3

        nursery.start_soon(run)
        await until(lambda: sum(1 for name, _ in seen if name == "a") >= 3, timeout=20)
        stop.set()
    incarnations = [inc for name, inc in seen if name == "a"]
    assert incarnations[:3] == [0, 1, 2]
    assert all(e.returncode == 3 for e in exits if not e.stopping)
    assert len([e for e in exits if not e.stopping]) >= 3


async def test_stop_terms_then_kills_after_the_grace() -> None:
    exits: list[WorkerExit] = []
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        " print('ready', flush=True); time.sleep(30)"
    )
    polite = "import time; print('ready', flush=True); time.sleep(30)"

    def command(name: str, incarnation: int) -> list[str]:
        return [sys.executable, "-c", stubborn if name == "stubborn" else polite]

    stop = trio.Event()
    codes: list[int] = []

    async def run() -> None:
        codes.append(
            await supervise_workers(
                ["stubborn", "polite"], command, stop, grace=0.3, on_exit=exits.append
            )
        )

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        await trio.sleep(1.0)  # both started (python startup)
        stop.set()
    # A worker killed by signal N counts as 128 + N, as a shell reports it (not 256 - N).
    assert codes in ([128 + 9], [128 + 15])
    by_name = {e.name: e for e in exits}
    assert by_name["polite"].returncode == -15 and by_name["polite"].stopping
    assert by_name["stubborn"].returncode == -9 and by_name["stubborn"].stopping
