"""``actors ps``, ``top``, ``tree``, ``info``, ``state``, ``send``, ``call``, ``trace``, ``metrics``
(the commands that talk to a running node; ``names``, ``groups`` and ``pools`` are in
``_listcli.py``).

They find the node (``_client.choose``: the runtime folder's registrations, or ``--node``,
``--app``, ``--socket``), connect to its control socket (see ``_server.py``), ask, and print
(``_format.py``; ``--json`` prints the reply as JSON). Exit codes:
0 ok, 1 the node is not reachable or has no such process (one line on stderr saying what to
do), 2 bad options (argparse).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ._client import TIMEOUT, Connection, choose, choose_one
from ._commands import COMMANDS
from ._errors import ControlError
from ._format import (
    format_info,
    format_ps,
    format_ps_nodes,
    format_state,
    format_trace,
    format_tree,
)
from ._listcli import add_groups, add_names, add_pools
from ._protocol import (
    MAX_ROWS,
    MAX_STATE,
    MAX_TIMEOUT,
    MAX_TRACE,
    CallReply,
    CallRequest,
    InfoReply,
    InfoRequest,
    OkReply,
    PsReply,
    PsRequest,
    Reply,
    SendRequest,
    StateReply,
    StateRequest,
    TraceEnd,
    TraceEvent,
    TraceRequest,
    TreeReply,
    TreeRequest,
)
from ._runtime import NodeEntry
from ._usermetrics import MetricsReply, MetricsRequest, format_metrics

__all__ = ["add_control_parsers"]

OK, UNREACHABLE = 0, 1


def _limit(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_ROWS:
        raise argparse.ArgumentTypeError(f"--limit must be between 1 and {MAX_ROWS}, got {value}")
    return value


def _where(parser: argparse.ArgumentParser, *, every: bool = False) -> None:
    parser.add_argument("--node", metavar="NAME", help="the node's name (see `actors ps --all`)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--app", metavar="DIR", help="the app folder given to `actors run`")
    group.add_argument("--socket", metavar="PATH", help="the node's control socket")
    if every:
        group.add_argument(
            "--all", action="store_true", help="every node you run (a NODE column first)"
        )


def add_control_parsers(subparsers: Any, only: str | None = None) -> None:
    """Add the commands of ``COMMANDS`` to the ``actors`` parser (just ``only``, if given)."""
    for name, add in _ADDERS.items():
        if only is None or only == name:
            add(subparsers.add_parser(name, help=COMMANDS[name]))


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the reply as JSON")


def _add_ps(ps: argparse.ArgumentParser) -> None:
    _where(ps, every=True)
    _json(ps)
    ps.add_argument("--sort", choices=("pid", "mq", "cpu", "age"), default="pid")
    ps.add_argument("--limit", type=_limit, default=50, metavar="N", help="rows (default 50)")
    ps.set_defaults(handler=_ps)


def _add_top(top: argparse.ArgumentParser) -> None:
    _where(top)
    top.add_argument("--sort", choices=("pid", "mq", "cpu", "age"), default="cpu")
    top.add_argument("--limit", type=_limit, default=20, metavar="N", help="rows (default 20)")
    top.add_argument("--interval", type=float, default=2.0, metavar="SECONDS")
    top.add_argument(
        "--iterations", type=int, default=0, metavar="N", help="stop after N (0: never)"
    )
    top.set_defaults(handler=_top)


def _add_info(info: argparse.ArgumentParser) -> None:
    _where(info)
    _json(info)
    info.add_argument("pid", metavar="PID", help="{host|0x00007}, 7, 0x7 or a registered name")
    info.add_argument(
        "--limit", type=_limit, default=20, metavar="N", help="links/monitors listed (default 20)"
    )
    info.set_defaults(handler=_info)


def _add_tree(tree: argparse.ArgumentParser) -> None:
    _where(tree)
    _json(tree)
    tree.add_argument(
        "--limit", type=_limit, default=1000, metavar="N", help="children shown (default 1000)"
    )
    tree.set_defaults(handler=_tree)


def _add_send(send: argparse.ArgumentParser) -> None:
    _where(send)
    _target(send)
    send.set_defaults(handler=_send)


def _add_call(call: argparse.ArgumentParser) -> None:
    _where(call)
    _target(call)
    call.add_argument("--timeout", type=_timeout, default=5.0, metavar="SECONDS", help="default 5")
    call.set_defaults(handler=_call)


def _add_state(state: argparse.ArgumentParser) -> None:
    _where(state)
    _json(state)
    state.add_argument("dest", metavar="NAME|PID", help="a Server process")
    state.add_argument(
        "--size", type=_size, default=4000, metavar="CHARS", help="shown at most (default 4000)"
    )
    state.set_defaults(handler=_state)


def _add_trace(trace: argparse.ArgumentParser) -> None:
    _where(trace)
    _json(trace)
    trace.add_argument("dest", metavar="NAME|PID")
    trace.add_argument("--topic", default="*", metavar="GLOB", help="messages shown (default *)")
    trace.add_argument(
        "--count", type=_count, default=100, metavar="N", help="stop after N events (100)"
    )
    trace.add_argument(
        "--seconds", type=_timeout, default=60.0, metavar="S", help="stop after S seconds (60)"
    )
    trace.add_argument(
        "--rate", type=_count, default=50, metavar="N", help="events a second at most (50)"
    )
    trace.set_defaults(handler=_trace)


def _count(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_TRACE:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_TRACE}, got {value}")
    return value


def _target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dest", metavar="NAME|PID", help="a registered name, {host|0x7}, 7 or 0x7")
    parser.add_argument("topic", metavar="TOPIC")
    parser.add_argument(
        "payload", metavar="JSON", nargs="?", default="null", help="the payload (default null)"
    )


def _timeout(text: str) -> float:
    value = float(text)
    if not 0 < value <= MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"must be > 0 and <= {MAX_TIMEOUT:g}, got {text}")
    return value


def _size(text: str) -> int:
    value = int(text)
    if not 100 <= value <= MAX_STATE:
        raise argparse.ArgumentTypeError(f"must be between 100 and {MAX_STATE}, got {value}")
    return value


def _emit(args: argparse.Namespace, stream: IO[str], reply: Reply, text: str) -> None:
    if getattr(args, "json", False):
        stream.write(json_text(reply) + "\n")
    else:
        stream.write(text)


def json_text(value: object) -> str:
    """``value`` (a reply, or a list/dict of them) as JSON text."""
    import msgspec

    return msgspec.json.encode(value).decode()


def _guarded(
    args: argparse.Namespace, body: Callable[[Connection, IO[str]], None], out: IO[str] | None
) -> int:
    stream = sys.stdout if out is None else out
    try:
        entry = choose_one(app=args.app, node=args.node, path=args.socket)
        with Connection(Path(entry.socket)) as connection:
            body(connection, stream)
    except ControlError as error:
        print(f"actors {args.command}: {error}", file=sys.stderr)
        return UNREACHABLE
    return OK


def _ps(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    if args.all or (args.node is None and args.app is None and args.socket is None):
        return _ps_many(args, sys.stdout if out is None else out)

    def body(connection: Connection, stream: IO[str]) -> None:
        reply = connection.ask(PsRequest(sort=args.sort, limit=args.limit))
        assert isinstance(reply, PsReply)
        _emit(args, stream, reply, format_ps(reply))

    return _guarded(args, body, out)


def _ps_many(args: argparse.Namespace, stream: IO[str]) -> int:
    """``ps`` with no choice: the node when one runs; with ``--all`` (or when several run and
    the user did not pick) every node, a NODE column first."""
    try:
        found = choose(app=args.app, node=args.node)
    except ControlError as error:
        print(f"actors ps: {error}", file=sys.stderr)
        return UNREACHABLE
    if len(found) == 1 and not args.all:
        try:
            with Connection(Path(found[0].socket)) as connection:
                reply = connection.ask(PsRequest(sort=args.sort, limit=args.limit))
        except ControlError as error:
            print(f"actors ps: {error}", file=sys.stderr)
            return UNREACHABLE
        assert isinstance(reply, PsReply)
        _emit(args, stream, reply, format_ps(reply))
        return OK
    replies: list[tuple[NodeEntry, PsReply]] = []
    failed = 0
    for entry in found:
        try:
            with Connection(Path(entry.socket)) as connection:
                reply = connection.ask(PsRequest(sort=args.sort, limit=args.limit))
        except ControlError as error:
            print(f"actors ps: node {entry.label}: {error}", file=sys.stderr)
            failed += 1
            continue
        assert isinstance(reply, PsReply)
        replies.append((entry, reply))
    if not args.all:
        print(
            f"actors ps: {len(found)} nodes are running (pick one with --node NAME, "
            "--app DIR or --socket PATH); showing all of them",
            file=sys.stderr,
        )
    if args.json:
        stream.write(json_text([{"node": e.label, "reply": r} for e, r in replies]) + "\n")
    else:
        stream.write(format_ps_nodes(replies))
    return UNREACHABLE if failed and not replies else OK


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
        reply = connection.ask(InfoRequest(pid=args.pid, limit=args.limit))
        assert isinstance(reply, InfoReply)
        _emit(args, stream, reply, format_info(reply))

    return _guarded(args, body, out)


def _add_metrics(metrics: argparse.ArgumentParser) -> None:
    _where(metrics)
    metrics.add_argument("--prefix", default="", help="only metrics whose name starts so")
    metrics.set_defaults(handler=_metrics)


def _metrics(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    def body(connection: Connection, stream: IO[str]) -> None:
        reply = connection.ask(MetricsRequest(prefix=args.prefix))
        assert isinstance(reply, MetricsReply)
        stream.write(format_metrics(reply))

    return _guarded(args, body, out)


def _send(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    def body(connection: Connection, stream: IO[str]) -> None:
        reply = connection.ask(SendRequest(args.dest, args.topic, args.payload))
        assert isinstance(reply, OkReply)
        stream.write(reply.message + "\n")

    return _guarded(args, body, out)


def _call(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    def body(connection: Connection, stream: IO[str]) -> None:
        request = CallRequest(args.dest, args.topic, args.payload, args.timeout)
        reply = connection.ask(request, timeout=args.timeout + TIMEOUT)
        assert isinstance(reply, CallReply)
        stream.write(reply.result + "\n")

    return _guarded(args, body, out)


def _state(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    def body(connection: Connection, stream: IO[str]) -> None:
        reply = connection.ask(StateRequest(args.dest, args.size))
        assert isinstance(reply, StateReply)
        _emit(args, stream, reply, format_state(reply))

    return _guarded(args, body, out)


def _trace(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    def body(connection: Connection, stream: IO[str]) -> None:
        request = TraceRequest(args.dest, args.topic, args.count, args.seconds, args.rate)
        try:
            for reply in connection.stream(request, timeout=args.seconds + TIMEOUT):
                if args.json:
                    stream.write(json_text(reply) + "\n")
                elif isinstance(reply, TraceEvent | TraceEnd):
                    stream.write(format_trace(reply))
                stream.flush()
        except KeyboardInterrupt:
            return

    return _guarded(args, body, out)


def _tree(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    def body(connection: Connection, stream: IO[str]) -> None:
        reply = connection.ask(TreeRequest(limit=args.limit))
        assert isinstance(reply, TreeReply)
        _emit(args, stream, reply, format_tree(reply))

    return _guarded(args, body, out)


_ADDERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "ps": _add_ps,
    "top": _add_top,
    "info": _add_info,
    "tree": _add_tree,
    "send": _add_send,
    "call": _add_call,
    "state": _add_state,
    "trace": _add_trace,
    "metrics": _add_metrics,
    "names": add_names,
    "groups": add_groups,
    "pools": add_pools,
}
