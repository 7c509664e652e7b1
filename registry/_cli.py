"""The ``actors`` command: ``run DIR``, ``cron ...``, ``ps``/``top``/``info``, ``--version``.

It lives in ``registry`` (the top layer) because ``run`` boots an app from its
index files; the ``cron`` subcommands come from ``actors.cron._cli``.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="actors", description="Run actor apps and manage durable cron jobs."
    )
    parser.add_argument("--version", action="version", version=f"actors {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="boot the app declared in DIR/_index.yaml (or DIR/src/)")
    run.add_argument("dir", metavar="DIR", help="the app folder")
    run.add_argument(
        "--grace", type=float, default=None, help="seconds between Cancel and terminate on stop"
    )
    run.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    run.add_argument(
        "--no-control", dest="control", action="store_false", help="no control socket (actors ps)"
    )
    run.add_argument(
        "--metrics-port", type=int, default=None, metavar="PORT", help="Prometheus on 127.0.0.1"
    )
    run.add_argument(
        "--workers", type=int, default=0, metavar="N", help="run N node processes (one machine)"
    )
    run.add_argument(
        "--socket-dir", default=None, help="with --workers: where the node sockets live"
    )
    run.add_argument(
        "--cluster", default=None, metavar="URL", help="join a node group through Redis (redis://)"
    )
    run.add_argument("--node", default=None, help="this node's name (with --cluster)")
    run.add_argument("--incarnation", type=int, default=0, help=argparse.SUPPRESS)
    run.set_defaults(handler=_run)
    from actors.cron._cli import add_cron_parser

    add_cron_parser(sub, serve=_cron_serve)
    from actors._control._cli import add_control_parsers

    add_control_parsers(sub)
    return parser


def _version() -> str:
    import actors

    return actors.__version__


def _run(args: argparse.Namespace) -> int:
    from ._app import run_app_cli

    return run_app_cli(args)


def _cron_serve(args: argparse.Namespace) -> int:
    from ._cronserve import serve_cli

    return serve_cli(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``actors`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = args.handler
    code: int = handler(args)
    return code


def console() -> None:
    """The ``actors`` console script: ``main()``, then exit without a last full collection.

    A stopped node leaves its processes' reference cycles to the cyclic
    collector, and the interpreter's final collection would scan them all
    (1.6 s after ``actors run`` of 100,000 processes) only to free memory the
    OS takes back anyway. Frozen objects are not scanned: freeze, then exit.
    """
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    console()
