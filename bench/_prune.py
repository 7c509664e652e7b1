"""Pruning the PostgreSQL run ledger: ``python -m bench._prune JOBS RUNS [--url URL]``.

Fills the ledger of a fresh database with JOBS jobs of RUNS delivered runs each (one a
minute, all planned), then makes two pruning passes with the default ``RunRetention()`` the
way a scheduler does (``prune_runs`` call after call until the last job): the first deletes
all but the newest 200 runs of each job, the second is the steady state. For each pass it
prints the rows deleted, the calls, the wall time and the longest call, which is how long the
scheduler's connection is held (its fires wait that long at worst).

Without ``--url`` it starts a throwaway server with ``tests/pgserver.py`` (PostgreSQL's
``initdb`` and ``pg_ctl`` must be installed, as for the tests).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from actors.cron import PgJobStore, RunRetention
from actors.cron._pgretention import prune_runs


def fill(store: PgJobStore, jobs: int, runs: int) -> None:
    """Write the jobs and their runs with two statements."""

    def insert(conn: object) -> None:
        execute = conn.execute  # type: ignore[attr-defined]
        execute(
            """INSERT INTO actors_cron_jobs (id, name, cron, target, prompt, planned_until)
            SELECT 'j' || j, 'n', '* * * * *', 't', 'p', now()
            FROM generate_series(1, %s) j""",
            (jobs,),
        )
        execute(
            """INSERT INTO actors_cron_runs (job_id, scheduled_for, name, target, prompt,
                catch_up, owner, state, lease_until, finished_at)
            SELECT 'j' || j, now() - n * interval '1 minute', 'n', 't', 'p', 'none', 1,
                'delivered', now(), now() - n * interval '1 minute'
            FROM generate_series(1, %s) j, generate_series(1, %s) n""",
            (jobs, runs),
        )
        execute("ANALYZE actors_cron_runs")

    store.call(insert)


def one_pass(store: PgJobStore, retention: RunRetention) -> dict[str, object]:
    """Prune from the first job to the last; return its figures."""
    start: str | None = ""
    deleted = calls = 0
    longest = 0.0
    began = time.perf_counter()
    while start is not None:
        call = time.perf_counter()
        done = store.call(prune_runs, retention, start)
        longest = max(longest, time.perf_counter() - call)
        assert done is not None
        deleted += done[0]
        start = done[1]
        calls += 1
    return {
        "deleted": deleted,
        "calls": calls,
        "wall_s": round(time.perf_counter() - began, 3),
        "longest_call_ms": round(longest * 1e3, 1),
    }


def main() -> None:
    """Parse the arguments, fill, prune twice, print one line per pass."""
    parser = argparse.ArgumentParser(prog="python -m bench._prune", description=__doc__)
    parser.add_argument("jobs", type=int)
    parser.add_argument("runs", type=int, help="delivered runs per job")
    parser.add_argument("--url", help="an empty database (default: a throwaway server)")
    args = parser.parse_args()
    with ExitStack() as stack:
        url = args.url
        if url is None:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
            pgserver = importlib.import_module("pgserver")
            bindir = pgserver.find_bindir()
            if bindir is None:
                raise SystemExit("no PostgreSQL binaries found (initdb, pg_ctl): pass --url")
            server = pgserver.PgServer(bindir)
            server.start()
            stack.callback(server.stop)
            url = server.create_database()
        store = stack.enter_context(PgJobStore(url))
        fill(store, args.jobs, args.runs)
        for name in ("first pass", "steady state"):
            result = one_pass(store, RunRetention())
            case = f"{args.jobs} jobs x {args.runs} runs, {name}"
            print(json.dumps({"case": case, **result}), flush=True)


if __name__ == "__main__":
    main()
