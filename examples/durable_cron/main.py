"""Durable cron: a node with the cron service and an agent that receives its events.

At start it makes sure the data folder has a heartbeat job (which reads
DIR/HEARTBEAT.md and skips while that file is empty) and a oneshot job, then
runs until Ctrl+C (or --seconds). Other programs can manage jobs with
``actors cron ... --dir DIR`` and drop trigger files into DIR/triggers/.

Run: python examples/durable_cron/main.py [--dir DIR] [--seconds N]
     [--heartbeat-cron EXPR] [--oneshot-cron EXPR]

The same without a program: ``actors run examples/durable_cron/app`` (an ``_index.yaml`` with
the agent and a ``cron.durable`` entry), or ``actors cron serve --store DIR --app APP``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import signal
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import trio

import actors
from actors.cron import CronEvent, JobExists, JobStore, cron_service

HERE = Path(__file__).resolve().parent


async def agent(proc: actors.Process) -> None:
    """Log each cron event; stop on Cancel."""
    async with trio.open_nursery() as nursery:

        async def log_events() -> None:
            async for msg in proc.inbox:
                event: CronEvent = msg.payload
                prompt = " ".join((event.prompt or "").split())
                print(
                    f"cron event job={event.job_id or 'external'} attempt={event.attempt} "
                    f"prompt={prompt}",
                    flush=True,
                )

        nursery.start_soon(log_events)
        async for event in proc.events:
            if isinstance(event, actors.Cancel):
                nursery.cancel_scope.cancel()
                return


def ensure_jobs(data: Path, heartbeat_cron: str, oneshot_cron: str) -> None:
    """Create the heartbeat job, its file and the oneshot job if they are absent."""
    store = JobStore(data)
    beat = data / "HEARTBEAT.md"
    if not beat.exists():
        beat.write_text("- check the inbox\n")
    with contextlib.suppress(JobExists):
        store.add(
            "Heartbeat",
            heartbeat_cron,
            "agent",
            prompt="heartbeat",
            heartbeat_file="HEARTBEAT.md",
            id="heartbeat",
        )
    with contextlib.suppress(JobExists):  # deleted once delivered; made again next start
        store.add(
            "Hello once", oneshot_cron, "agent", prompt="hello", oneshot=True, id="hello-once"
        )


def waiting_for(data: Path) -> str:
    """Say what the program waits for: each enabled job's next fire (UTC), and Ctrl+C."""
    now = datetime.now(UTC)
    fires = [
        f"{job.id} at {actors.CronTrigger(job.cron, hash_id=job.id).next_fire(now):%H:%M:%S}"
        for job in JobStore(data).list()
        if job.enabled
    ]
    return (
        f"waiting for cron events (next fires, UTC: {', '.join(fires) or 'none'}) "
        "or trigger files; Ctrl+C stops"
    )


async def amain(args: argparse.Namespace) -> None:
    data: Path = args.dir
    ensure_jobs(data, args.heartbeat_cron, args.oneshot_cron)
    print(f"cron data folder: {data}", flush=True)
    print(
        "drop an external trigger with:\n"
        f'  printf \'{{"target":"agent","prompt":"hi"}}\' > {data}/triggers/x.json\n'
        f"list jobs with: actors cron list --dir {data}",
        flush=True,
    )
    async with actors.open_node(shutdown_grace=5) as node:
        node.spawn(agent, name="agent")
        node.spawn(partial(cron_service, data_dir=data), name="cron")
        print("running", flush=True)
        print(waiting_for(data), flush=True)
        with (
            trio.move_on_after(args.seconds if args.seconds else math.inf),
            trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals,
        ):
            async for _ in signals:
                break
    print("stopped", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=str(HERE / "data"), help="data folder (git-ignored)")
    parser.add_argument("--seconds", type=float, default=None, help="stop after N seconds")
    parser.add_argument("--heartbeat-cron", default="*/5 * * * *", metavar="EXPR")
    parser.add_argument(
        "--oneshot-cron", default="* * * * *", metavar="EXPR", help="when the oneshot job fires"
    )
    args = parser.parse_args()
    args.dir = Path(args.dir).resolve()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    trio.run(amain, args)


if __name__ == "__main__":
    main()
