"""One adapter module per system.  Each implements the workloads it can (see ``actors_sys``)."""

from __future__ import annotations

#: Python systems, in table order; each runs through ``python -m bench._worker``.
PYTHON_SYSTEMS: dict[str, str] = {
    "actors": "bench.systems.actors_sys",
    "trio": "bench.systems.trio_naive",
    "asyncio": "bench.systems.asyncio_naive",
    "pykka": "bench.systems.pykka_sys",
    "thespian": "bench.systems.thespian_sys",
}

#: Every system name the suite knows, in table order (``erlang`` runs ``bench/erlang/bench.erl``).
ALL_SYSTEMS: tuple[str, ...] = (*PYTHON_SYSTEMS, "erlang")

#: The baseline every ratio is taken against.
BASELINE = "trio"
