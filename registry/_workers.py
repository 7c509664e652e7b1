"""``actors run DIR --workers N`` (N worker nodes on one machine), ``--cluster URL`` (Redis).

The parent loads the app once (so a broken app fails fast with exit code 2),
makes a private socket directory (0700), and starts ``actors run DIR --node wI``
for I in 1..N; each worker boots the app as a node named ``wI`` in a node group
over Unix sockets in that directory (``--socket-dir`` picks it, so other nodes
can join). Each worker's environment has ``ACTORS_NODES=w1,...,wN``, so an
app can share its work among the nodes (``examples/mass_spawn`` does). A
worker that dies is restarted with backoff (``actors.cluster``); SIGINT/SIGTERM
stop every worker (one SIGTERM, then SIGKILL after ``--grace`` plus 5 seconds;
a second signal passes a second SIGTERM on: each worker forces its stop) and
the parent exits 0 when every worker stopped cleanly. Workers run in their own
process groups (a terminal's Ctrl+C reaches the parent alone) and stop when the
parent dies, however it dies (``actors.cluster._parent``). ``actors run DIR --cluster
redis://... --node NAME`` runs one node that joins the group of every node using
the same Redis server (any machine).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import IO, Any

import trio

import actors
from actors.cluster import (
    RedisTransport,
    Transport,
    UnixTransport,
    current_group,
    open_node_group,
)
from actors.cluster._workers import WorkerExit, supervise_workers

from ._boot import App
from ._exceptions import RegistryError

log = actors.get_logger("actors.app")


def worker_names(count: int) -> list[str]:
    return [f"w{i}" for i in range(1, count + 1)]


def check_workers(args: argparse.Namespace) -> None:
    """Validate ``--workers`` and the hidden worker options, naming the bad value."""
    workers = getattr(args, "workers", 0)
    if not isinstance(workers, int) or workers < 0 or workers > 256:
        raise ValueError(f"--workers must be a whole number in 0..256, got {workers!r}")
    node = getattr(args, "node", None)
    socket_dir = getattr(args, "socket_dir", None)
    cluster = getattr(args, "cluster", None)
    if cluster is not None:
        if workers or socket_dir is not None:
            raise ValueError(
                "--cluster joins one node to a Redis group; drop --workers/--socket-dir"
            )
        if node is None:
            raise ValueError("--cluster needs --node NAME (this node's name in the group)")
        try:
            RedisTransport(cluster, node)  # validates the URL and the name
        except RuntimeError as error:  # coredis is not installed
            raise ValueError(str(error)) from None
        return
    if node is not None and workers:
        raise ValueError("--workers starts the worker nodes; do not combine it with --node")
    if socket_dir is None and node is not None:
        raise ValueError("--node needs --cluster URL (or --socket-dir, set by --workers)")
    if socket_dir is not None and node is None and not workers:
        raise ValueError("--socket-dir goes with --workers N")


@asynccontextmanager
async def join_group(node: actors.Node, args: argparse.Namespace) -> AsyncIterator[None]:
    """With ``--node``: join ``node`` to its group (Unix sockets, or Redis with ``--cluster``)."""
    if getattr(args, "node", None) is None:
        yield
        return
    cluster = getattr(args, "cluster", None)
    transport: Transport
    if cluster is not None:
        transport = RedisTransport(cluster, args.node)
    else:
        transport = UnixTransport(args.socket_dir, args.node)
    async with open_node_group(node, transport, incarnation=args.incarnation) as group:
        log.info("Node joined", node=args.node, peers=len(group.nodes()))
        yield


def export_app(node: actors.Node, app: App) -> None:
    """In a node group: let peers spawn the app's ``process`` entries by id (nothing else).

    ``group.spawn("w2", "app:worker", *args)`` starts the entry's function on ``w2``; the entry
    is looked up when the request arrives, so entries added or removed later count.
    """
    if node._remote is not None:
        current_group(node).exports.add_resolver(partial(_app_process, app))


def _app_process(app: App, name: str) -> Any:
    try:
        entry = app.registry.get(name)
    except (RegistryError, ValueError):
        return None
    return app.process(name) if entry.kind == "process" else None


def run_workers_cli(args: argparse.Namespace, grace: float, err: IO[str]) -> int:
    """Run ``args.workers`` worker processes until SIGINT/SIGTERM; return the exit code."""
    own_dir = args.socket_dir is None
    socket_dir = tempfile.mkdtemp(prefix="actors-") if own_dir else os.fspath(args.socket_dir)
    os.makedirs(socket_dir, mode=0o700, exist_ok=True)
    os.chmod(socket_dir, 0o700)

    def command(name: str, incarnation: int) -> list[str]:
        argv = [sys.executable, "-m", "registry._cli", "run", os.fspath(args.dir)]
        argv += ["--node", name, "--socket-dir", socket_dir, "--incarnation", str(incarnation)]
        argv += ["--log-level", str(args.log_level)]
        if not getattr(args, "control", True):
            argv.append("--no-control")
        if args.grace is not None:
            argv += ["--grace", str(args.grace)]
        return argv

    def on_exit(exit: WorkerExit) -> None:
        if not exit.stopping:
            log.warning("Worker exited", node=exit.name, code=exit.returncode)

    async def main() -> int:
        stop, force = trio.Event(), trio.Event()
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                names = worker_names(args.workers)
                log.info("Workers starting", workers=len(names), sockets=socket_dir)

                async def watch_signals() -> None:
                    # The workers run in their own process groups: a terminal's Ctrl+C reaches
                    # this process alone, which passes one SIGTERM to each worker; a second
                    # signal here is a second SIGTERM there (each worker forces its stop).
                    async for signum in signals:
                        name = signal.Signals(signum).name
                        if not stop.is_set():
                            log.info("Shutting down", signal=name)
                            stop.set()
                        else:
                            log.warning("Forcing stop", signal=name)
                            force.set()
                            return

                nursery.start_soon(watch_signals)
                env = dict(os.environ, ACTORS_NODES=",".join(names))
                code = await supervise_workers(
                    names, command, stop, grace=grace + 5.0, on_exit=on_exit, env=env, force=force
                )
                nursery.cancel_scope.cancel()
        log.info("Workers stopped", clean=str(code == 0).lower())
        return code

    try:
        return trio.run(main)
    except KeyboardInterrupt:
        return 130
    finally:
        if own_dir:
            shutil.rmtree(socket_dir, ignore_errors=True)
