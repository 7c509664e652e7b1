"""The ``actors`` command: ``run DIR``, ``cron ...``, ``ps``/``tree``/``info``/..., ``--version``.

It lives in ``registry`` (the top layer) because ``run`` boots an app from its
index files; the ``cron`` subcommands come from ``actors.cron._cli``, the commands that talk to
a running node from ``actors._control._cli``.

Only the chosen command's parser is built, and each command imports what it needs when it
runs: ``actors --version`` and ``actors --help`` import no trio, ``actors ps`` only the
control client (msgspec and a socket).
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Sequence

RUN_HELP = "boot the app declared in DIR/_index.yaml (or DIR/src/)"
CRON_HELP = "manage durable cron jobs in a data folder"


def _control_commands() -> dict[str, str]:
    from actors._control._commands import COMMANDS

    return COMMANDS


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``actors`` parser; only ``command``'s own parser is built (None: each command is
    just its name and help line, enough for ``--help`` and ``--version``)."""
    parser = argparse.ArgumentParser(
        prog="actors", description="Run actor apps, look inside them, manage durable cron jobs."
    )
    parser.add_argument("--version", action="version", version=f"actors {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    control = _control_commands()
    wanted = set() if command is None else {command}
    if "run" in wanted:
        _add_run(sub)
    else:
        sub.add_parser("run", help=RUN_HELP, add_help=False)
    if "cron" in wanted:
        try:
            from actors.cron._cli import add_cron_parser
        except ImportError:  # the cron CLI is optional while it is being built
            pass
        else:
            add_cron_parser(sub, serve=_cron_serve)
    else:
        sub.add_parser("cron", help=CRON_HELP, add_help=False)
    if wanted & set(control):
        from actors._control._cli import add_control_parsers

        add_control_parsers(sub, only=None if command is None else command)
    for name, help_text in control.items():
        if name not in wanted:
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help=RUN_HELP)
    run.add_argument("dir", metavar="DIR", help="the app folder")
    run.add_argument(
        "-x",
        "--exec",
        default=None,
        metavar="ENTRY",
        help="run the process entry ENTRY as the program: stop the app when it ends",
    )
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
    run.add_argument("--incarnation", type=int, default=None, help=argparse.SUPPRESS)
    run.set_defaults(handler=_run)


def _version() -> str:
    import actors  # cheap: its names are imported on first use

    return actors.__version__


def _run(args: argparse.Namespace) -> int:
    from ._app import run_app_cli

    return run_app_cli(args)


def _command(argv: Sequence[str]) -> str | None:
    """The command word of ``argv`` (the first argument that is not an option), if any."""
    for arg in argv:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg
    return None


def _cron_serve(args: argparse.Namespace) -> int:
    from ._cronserve import serve_cli

    return serve_cli(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``actors`` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = _command(args_list)
    known = command in {"run", "cron", *_control_commands()}
    parser = build_parser(command if known else None)
    args = parser.parse_args(args_list)
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
