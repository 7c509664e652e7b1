"""``actors names``, ``groups [GROUP]`` and ``pools``: ask one node or every node, print.

They choose nodes as ``ps`` does: the only node running, the one ``--node``/``--app``/
``--socket`` names, or every node (``--all``, or several running and none picked, with a
note on stderr). Replies of several nodes are merged by ``_directory.py``'s formatters (a
group-wide name or a spanning group once); ``--json`` prints the reply, or a list of
``{"node": label, "reply": ...}`` for several nodes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ._client import Connection, choose
from ._directory import (
    GROUP_NAME,
    MAX_LISTED,
    GroupsReply,
    GroupsRequest,
    NamesReply,
    NamesRequest,
    PoolsReply,
    PoolsRequest,
    format_groups,
    format_names,
    format_pools,
)
from ._errors import ControlError
from ._runtime import NodeEntry

OK, UNREACHABLE = 0, 1


def _limit(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_LISTED:
        raise argparse.ArgumentTypeError(f"--limit must be between 1 and {MAX_LISTED}, got {value}")
    return value


def group_name(text: str) -> str:
    """``GROUP`` of ``actors groups``: 1-255 characters (argparse exits 2 otherwise)."""
    if not 1 <= len(text) <= GROUP_NAME:
        raise argparse.ArgumentTypeError(
            f"GROUP must be 1-{GROUP_NAME} characters, got {len(text)}"
        )
    return text


def _options(parser: argparse.ArgumentParser, default: int, what: str) -> None:
    parser.add_argument("--node", metavar="NAME", help="the node's name (see `actors ps --all`)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--app", metavar="DIR", help="the app folder given to `actors run`")
    where.add_argument("--socket", metavar="PATH", help="the node's control socket")
    where.add_argument("--all", action="store_true", help="every node you run, merged")
    parser.add_argument("--json", action="store_true", help="print the reply as JSON")
    parser.add_argument(
        "--limit", type=_limit, default=default, metavar="N", help=f"{what} (default {default})"
    )


def add_names(parser: argparse.ArgumentParser) -> None:
    """``actors names``."""
    _options(parser, 1000, "local and group-wide names listed, each")
    parser.set_defaults(handler=_names)


def add_groups(parser: argparse.ArgumentParser) -> None:
    """``actors groups [GROUP]``."""
    parser.add_argument(
        "group", metavar="GROUP", nargs="?", type=group_name, help="list this group's members"
    )
    _options(parser, 1000, "groups, or members of each scope, listed")
    parser.set_defaults(handler=_groups)


def add_pools(parser: argparse.ArgumentParser) -> None:
    """``actors pools``."""
    _options(parser, 1000, "pools listed")
    parser.set_defaults(handler=_pools)


def _names(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    request = NamesRequest(limit=args.limit)
    return _run(args, out, request, NamesReply, format_names)


def _groups(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    request = GroupsRequest(group=args.group, limit=args.limit)
    return _run(args, out, request, GroupsReply, format_groups)


def _pools(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    return _run(args, out, PoolsRequest(limit=args.limit), PoolsReply, format_pools)


def _run(
    args: argparse.Namespace,
    out: IO[str] | None,
    request: NamesRequest | GroupsRequest | PoolsRequest,
    kind: type[Any],
    render: Callable[[list[tuple[NodeEntry | None, Any]]], str],
) -> int:
    """Ask the chosen node (or every one) and print the merged answer."""
    stream = sys.stdout if out is None else out
    command = f"actors {args.command}"
    try:
        found = choose(app=args.app, node=args.node, path=args.socket)
    except ControlError as error:
        print(f"{command}: {error}", file=sys.stderr)
        return UNREACHABLE
    many = args.all or len(found) > 1
    replies: list[tuple[NodeEntry, Any]] = []
    failed = 0
    for entry in found:
        try:
            with Connection(Path(entry.socket)) as connection:
                reply = connection.ask(request)
        except ControlError as error:
            print(f"{command}: node {entry.label}: {error}" if many else f"{command}: {error}",
                  file=sys.stderr)  # fmt: skip
            failed += 1
            continue
        if not isinstance(reply, kind):  # an older node that does not know the request
            print(f"{command}: node {entry.label}: unexpected reply {reply!r:.200}",
                  file=sys.stderr)  # fmt: skip
            failed += 1
            continue
        replies.append((entry, reply))
    if len(found) > 1 and not args.all:
        print(
            f"{command}: {len(found)} nodes are running (pick one with --node NAME, "
            "--app DIR or --socket PATH); showing all of them",
            file=sys.stderr,
        )
    if not replies:
        return UNREACHABLE
    if args.json:
        import msgspec

        value: Any = [{"node": e.label, "reply": r} for e, r in replies] if many else replies[0][1]
        stream.write(msgspec.json.encode(value).decode() + "\n")
    else:
        stream.write(render([(e if many else None, r) for e, r in replies]))
    return OK
