"""Erlang/OTP as the reference: compile ``bench/erlang/bench.erl`` and run one workload in ``erl``.

Optional: when ``erl`` is not on PATH the runner records a skip note (Debian: ``apt-get install
erlang-base``).  ``erl`` runs with ``+sbwt none`` (and the dirty-scheduler variants) so BEAM's
scheduler busy-waiting does not inflate its CPU figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).parent / "erlang" / "bench.erl"
BUILD = Path(__file__).parent / "results" / ".erlang"
ERL_FLAGS = ("+sbwt", "none", "+sbwtdcpu", "none", "+sbwtdio", "none")


def available() -> str | None:
    """Path of ``erl`` (and ``erlc``) when both are on PATH, else None."""
    erl = shutil.which("erl")
    return erl if erl and shutil.which("erlc") else None


def otp_release() -> str | None:
    erl = available()
    if erl is None:
        return None
    out = subprocess.run(
        [erl, "-noshell", "-eval", 'io:format("~s", [erlang:system_info(otp_release)]), halt().'],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return out.stdout.strip() or None


def compile_module() -> Path:
    """Compile bench.erl into bench/results/.erlang (only when the source is newer)."""
    beam = BUILD / "bench.beam"
    if beam.exists() and beam.stat().st_mtime >= SOURCE.stat().st_mtime:
        return BUILD
    BUILD.mkdir(parents=True, exist_ok=True)
    erlc = shutil.which("erlc")
    if erlc is None:
        raise NotImplementedError("erlc not on PATH")
    out = subprocess.run(
        [erlc, "-o", str(BUILD), str(SOURCE)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"erlc failed: {out.stderr.strip() or out.stdout.strip()}")
    return BUILD


def command(args: argparse.Namespace, build: Path) -> list[str]:
    erl = available()
    if erl is None:
        raise NotImplementedError("erl not on PATH (Debian: apt-get install erlang-base)")
    opts = {
        "seconds": args.seconds,
        "warmup": args.warmup,
        "tick_min": args.tick_min,
        "tick_max": args.tick_max,
        "senders": float(args.senders),
    }
    flat = [str(x) for kv in opts.items() for x in (kv[0], float(kv[1]))]
    return [
        erl,
        "-noshell",
        *ERL_FLAGS,
        "-pa",
        str(build),
        "-run",
        "bench",
        "main",
        args.workload,
        str(args.n),
        *flat,
    ]


def measure(args: argparse.Namespace) -> dict[str, float]:
    """Run one workload in a child ``erl`` (the runner kills our process group on timeout)."""
    if args.workload == "idle_memory" and args.probe == "tracemalloc":
        raise NotImplementedError("tracemalloc is Python-only (see vm_process_bytes_per_actor)")
    if args.workload in ("ticker_accuracy", "ticking_warm"):
        raise NotImplementedError("not written in bench.erl")
    if available() is None:
        raise NotImplementedError("erl not on PATH (Debian: apt-get install erlang-base)")
    cmd = command(args, compile_module())
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        detail = (out.stderr.strip() or out.stdout.strip()).splitlines()
        raise RuntimeError(f"erl exited {out.returncode}: {detail[:3]}")
    metrics: dict[str, float] = json.loads(lines[-1])
    return metrics
