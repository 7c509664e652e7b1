"""Write, update and remove cron jobs and trigger files in a loop until killed.

Usage: ``python write_jobs.py DATA_DIR``. Prints ``ready`` after the first
round so the test knows writes are under way, then never stops on its own;
the crash test SIGKILLs it at random moments.
"""

from __future__ import annotations

import datetime as dt
import itertools
import sys
from pathlib import Path

from actors.cron import JobStore, write_trigger
from actors.cron import TriggerFile as Trigger


def main(data_dir: str) -> None:
    """Churn jobs and trigger files in ``data_dir`` forever."""
    store = JobStore(Path(data_dir))
    for n in itertools.count():
        job = store.add(f"Job {n % 7}", "*/5 * * * *", "inbox", prompt="x" * (n % 500))
        store.mark_fired(job.id, dt.datetime.now(dt.UTC))
        store.disable(job.id)
        write_trigger(store.triggers_dir, Trigger(target="inbox", prompt="p" * n, job_id=job.id))
        if n % 3 == 0:
            store.remove(job.id)
        if n == 0:
            print("ready", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
