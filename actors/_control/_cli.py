"""``actors ps``, ``actors top`` and ``actors info``: look inside a running node.

They connect to the node's control socket (see ``_server.py``), ask, and print. Exit codes:
0 ok, 1 the node is not reachable or has no such process (one line on stderr saying what to
do), 2 bad options (argparse).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import IO, Any

from ._client import Connection, find_socket
from ._protocol import (
    MAX_ROWS,
    InfoReply,
    InfoRequest,
    ProcessRow,
    PsReply,
    PsRequest,
    StallSummary,
)
from ._server import ControlError

__all__ = ["add_control_parsers"]

OK, UNREACHABLE = 0, 1


def _limit(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_ROWS:
        raise argparse.ArgumentTypeError(f"--limit must be between 1 and {MAX_ROWS}, got {value}")
    return value


def _where(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--app", metavar="DIR", help="the app folder given to `actors run`")
    group.add_argument("--socket", metavar="PATH", help="the node's control socket")


def add_control_parsers(subparsers: Any) -> None:
    """Add ``ps``, ``top`` and ``info`` to the ``actors`` parser."""
    ps = subparsers.add_parser("ps", help="list the processes of a running node")
    _where(ps)
    ps.add_argument("--sort", choices=("pid", "mq", "cpu", "age"), default="pid")
    ps.add_argument("--limit", type=_limit, default=50, metavar="N", help="rows (default 50)")
    ps.set_defaults(handler=_ps)
    top = subparsers.add_parser("top", help="ps, refreshed (Ctrl+C stops)")
    _where(top)
    top.add_argument("--sort", choices=("pid", "mq", "cpu", "age"), default="cpu")
    top.add_argument("--limit", type=_limit, default=20, metavar="N", help="rows (default 20)")
    top.add_argument("--interval", type=float, default=2.0, metavar="SECONDS")
    top.add_argument(
        "--iterations", type=int, default=0, metavar="N", help="stop after N (0: never)"
    )
    top.set_defaults(handler=_top)
    info = subparsers.add_parser("info", help="links, monitors, queues and stack of a process")
    _where(info)
    info.add_argument("pid", metavar="PID", help="{host|0x00007}, 7, 0x7 or a registered name")
    info.set_defaults(handler=_info)


def _guarded(
    args: argparse.Namespace, body: Callable[[Connection, IO[str]], None], out: IO[str] | None
) -> int:
    stream = sys.stdout if out is None else out
    try:
        with Connection(find_socket(app=args.app, path=args.socket)) as connection:
            body(connection, stream)
    except ControlError as error:
        print(f"actors {args.command}: {error}", file=sys.stderr)
        return UNREACHABLE
    return OK


def _ps(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    def body(connection: Connection, stream: IO[str]) -> None:
        reply = connection.ask(PsRequest(sort=args.sort, limit=args.limit))
        assert isinstance(reply, PsReply)
        stream.write(format_ps(reply))

    return _guarded(args, body, out)


def _top(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    if not args.interval > 0 or args.iterations < 0:
        print("actors top: --interval must be > 0 and --iterations >= 0", file=sys.stderr)
        return 2

    def body(connection: Connection, stream: IO[str]) -> None:
        done = 0
        try:
            while True:
                reply = connection.ask(PsRequest(sort=args.sort, limit=args.limit, cpu=True))
                assert isinstance(reply, PsReply)
                if stream.isatty():
                    stream.write("\x1b[H\x1b[2J")
                stream.write(format_ps(reply, header=True))
                stream.flush()
                done += 1
                if args.iterations and done >= args.iterations:
                    return
                time.sleep(args.interval)
        except KeyboardInterrupt:
            return

    return _guarded(args, body, out)


def _info(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    def body(connection: Connection, stream: IO[str]) -> None:
        reply = connection.ask(InfoRequest(pid=args.pid))
        assert isinstance(reply, InfoReply)
        stream.write(format_info(reply))

    return _guarded(args, body, out)


_COLUMNS = ("PID", "NAME", "HOST", "FUNCTION", "STATE", "MQ", "EV", "IN", "RS", "AGE", "CPU")


def _cells(row: ProcessRow) -> tuple[str, ...]:
    cpu = "-" if row.cpu is None else f"{row.cpu * 1000:.1f}ms"
    return (
        row.pid,
        row.name or "-",
        row.host,
        _short(row.function, 40),
        _short(row.state, 28),
        str(row.inbox + row.listened),
        str(row.events),
        str(row.received),
        "-" if row.restarts is None else str(row.restarts),
        _age(row.age),
        cpu,
    )


def format_ps(reply: PsReply, *, header: bool = False) -> str:
    """The ``ps`` table (and, for ``top``, a summary line first); a line about loop stalls
    follows the table when the watchdog saw any."""
    lines = []
    if header:
        cpu = "on" if reply.cpu_sampling else "off"
        lines.append(
            f"node {reply.node or '-'} (os pid {reply.pid})  processes {reply.total}  "
            f"up {_age(reply.uptime)}  cpu sampling {cpu}  {_stall_counts(reply.stalls)}"
        )
    table = [_COLUMNS, *(_cells(row) for row in reply.rows)]
    widths = [max(len(cells[i]) for cells in table) for i in range(len(_COLUMNS))]
    lines.extend(
        "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
        for cells in table
    )
    if reply.total > len(reply.rows):
        lines.append(f"({len(reply.rows)} of {reply.total} processes shown; --limit N for more)")
    if reply.stalls is not None and reply.stalls.count:
        last = reply.stalls
        lines.append(
            f"{_stall_counts(last)}; last {_ms(last.last_duration)} "
            f"by {last.last_pid} {last.last_function} (the log has its stack)"
        )
    return "\n".join(lines) + "\n"


def _stall_counts(stalls: StallSummary | None) -> str:
    if stalls is None:
        return "watchdog off"
    text = f"loop stalls {stalls.count} over {_ms(stalls.threshold)}"
    return text + (f", longest {_ms(stalls.longest)}" if stalls.count else "")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms"


def format_info(reply: InfoReply) -> str:
    """The ``info`` report of one process."""
    row = reply.row
    lines = [
        f"pid        {row.pid}",
        f"names      {', '.join(reply.names) or '-'}",
        f"host       {row.host}",
        f"function   {row.function}",
        f"state      {row.state}",
        f"age        {_age(row.age)}",
        f"received   {row.received}",
        f"restarts   {'-' if row.restarts is None else row.restarts}",
        f"links      {', '.join(reply.links) or '-'}",
        f"monitors   {', '.join(reply.monitors) or '-'}",
        f"trap_links {str(reply.trap_links).lower()}",
        "queues",
    ]
    for q in reply.queues:
        limit = "unbounded" if q.limit is None else f"limit {q.limit}"
        waiting = "  (waiting)" if q.waiting else ""
        lines.append(
            f"  {q.name:<16} queued {q.queued}  received {q.received}  "
            f"dropped {q.dropped}  {limit}{waiting}"
        )
    if not reply.queues:
        lines.append("  (none yet)")
    lines.append("stack (outermost first)")
    lines.extend(f"  {frame}" for frame in reply.stack)
    return "\n".join(lines) + "\n"


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def _age(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
