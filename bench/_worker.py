"""One measurement in a fresh process: ``python -m bench._worker SYSTEM WORKLOAD N [options]``.

Prints exactly one JSON line on stdout::

    {"system": "trio", "workload": "spawn", "n": 10000, "status": "ok",
     "metrics": {"time_to_pids_s": 0.04, ...}, "reason": ""}

``status`` is ``ok``, ``unavailable`` (the adapter raised NotImplementedError or its package is
missing) or ``error`` (the adapter raised).  Hangs are the runner's business: it kills this
process after a timeout.  The process ends with ``os._exit`` right after printing, so tearing down
200k tasks or 10k threads never counts against the run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import traceback
from typing import Any, NoReturn

from bench import _busy, _common
from bench.systems import PYTHON_SYSTEMS

WORKLOADS = (
    "spawn",
    "idle_memory",
    "ticking",
    "ticking_warm",
    "pingpong",
    "fanin",
    "call_reply",
    "ticker_accuracy",
)


def _clean(metrics: dict[str, float]) -> dict[str, float | None]:
    """JSON has no NaN/inf: map them to None."""
    return {k: (None if math.isnan(v) or math.isinf(v) else float(v)) for k, v in metrics.items()}


def emit(args: argparse.Namespace, status: str, metrics: dict[str, float], reason: str) -> NoReturn:
    line = {
        "system": args.system,
        "workload": args.workload,
        "n": args.n,
        "status": status,
        "metrics": _clean(metrics),
        "reason": reason,
    }
    _busy.release()
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench._worker")
    p.add_argument("system", choices=(*PYTHON_SYSTEMS, "erlang"))
    p.add_argument("workload", choices=WORKLOADS)
    p.add_argument(
        "n", type=int, help="actors; rounds for pingpong/call_reply; per sender for fanin"
    )
    p.add_argument("--seconds", type=float, default=5.0, help="ticking: measurement window")
    p.add_argument("--warmup", type=float, default=1.0, help="ticking: time before the window")
    p.add_argument("--tick-min", type=float, default=0.5)
    p.add_argument("--tick-max", type=float, default=3.0)
    p.add_argument("--senders", type=int, default=100, help="fanin: number of senders")
    p.add_argument("--probe", choices=("rss", "tracemalloc"), default="rss")
    return p.parse_args(argv)


def run_python(args: argparse.Namespace) -> dict[str, float]:
    module: Any = importlib.import_module(PYTHON_SYSTEMS[args.system])
    w = args.workload
    if w == "spawn":
        result: dict[str, float] = module.spawn(args.n)
    elif w == "idle_memory":
        result = module.idle_memory(args.n, _common.MemoryProbe(args.probe))
    elif w == "ticking":
        result = module.ticking(args.n, args.seconds, args.tick_min, args.tick_max, args.warmup)
    elif w == "ticking_warm":
        with _busy.cpu_kept_busy():
            result = module.ticking(args.n, args.seconds, args.tick_min, args.tick_max, args.warmup)
    elif w == "pingpong":
        result = module.pingpong(args.n)
    elif w == "fanin":
        result = module.fanin(args.senders, args.n)
    elif w == "ticker_accuracy":
        if not hasattr(module, "ticker_accuracy"):
            raise NotImplementedError(f"{args.system} has no ticker_accuracy workload")
        result = module.ticker_accuracy(args.n)
    else:
        result = module.call_reply(args.n)
    return result


def main(argv: list[str] | None = None) -> NoReturn:
    args = parse_args(argv)
    _common.early_exit = lambda metrics: emit(args, "ok", metrics, "")
    try:
        if args.system == "erlang":
            from bench import _erlang

            metrics = _erlang.measure(args)
        else:
            metrics = run_python(args)
    except NotImplementedError as exc:
        emit(args, "unavailable", {}, str(exc) or "not implemented")
    except ImportError as exc:
        emit(args, "unavailable", {}, f"cannot import: {exc}")
    except Exception as exc:
        traceback.print_exc()
        emit(args, "error", {}, f"{type(exc).__name__}: {exc}")
    emit(args, "ok", metrics, "")


if __name__ == "__main__":
    main()
