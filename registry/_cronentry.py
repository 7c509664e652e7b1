"""The ``cron.durable`` entry kind: an app's durable cron, run as one of its services.

An entry such as::

    - name: cron
      kind: cron.durable
      store: data/cron            # a folder next to this index file, or postgresql://...
      tz: Europe/Berlin
      lifecycle: {requires: [worker]}

becomes a :class:`actors.ServiceSpec` named after the entry, whose process is
:func:`actors.cron.cron_service` on that store: ``actors run`` starts it (``auto_start`` is
true by default) after the services it requires and stops it before them, and restarts it with
backoff if it fails. ``role`` splits the work: ``schedule`` only fires (into trigger files),
``deliver`` only delivers a data folder's trigger files to this app's processes (while
``actors cron serve`` fires them), ``all`` (default) does both. On a PostgreSQL store,
``retention: {keep_runs: 200, keep_dead: 100, max_age: 720h}`` (the defaults; ``null`` lifts
a limit) is the run ledger's :class:`actors.cron.RunRetention`.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import actors
from actors import Backoff, ServiceSpec
from actors.cron import RetryPolicy, RunRetention, cron_service

from ._entry import Entry

__all__ = ["cron_entry_spec", "durable_cron_spec"]


def durable_cron_spec(
    name: str,
    store: str,
    *,
    role: str = "all",
    tz: str = "UTC",
    poll_interval: float = 0.5,
    misfire_grace: float = 60.0,
    ack_timeout: float | None = None,
    max_attempts: int = 20,
    trigger_dir: str | None = None,
    retention: RunRetention | None = None,
    requires: tuple[str, ...] = (),
    auto_start: bool = True,
    start_timeout: float = 10.0,
    stop_timeout: float = 10.0,
    backoff: Backoff | None = None,
) -> ServiceSpec:
    """Return the service spec that runs ``cron_service`` on ``store`` (validated at start).

    The service reports ready once its tasks run (``ready=True``), so services that require
    it start after its first trigger pass began.
    """
    options: dict[str, Any] = {
        "data_dir": store,
        "role": role,
        "tz": tz,
        "poll_interval": poll_interval,
        "misfire_grace": misfire_grace,
        "ack_timeout": ack_timeout,
        "retry": RetryPolicy(max_attempts=max_attempts),
    }
    if trigger_dir is not None:
        options["trigger_dir"] = trigger_dir
    if retention is not None:
        options["retention"] = retention
    return ServiceSpec(
        name,
        partial(cron_service, **options),
        requires=requires,
        auto_start=auto_start,
        start_timeout=start_timeout,
        stop_timeout=stop_timeout,
        backoff=Backoff() if backoff is None else backoff,
        ready=True,
    )


def cron_entry_spec(entry: Entry) -> ServiceSpec:
    """Return the service spec of a checked ``cron.durable`` entry.

    Raises:
        ValueError: a duration does not parse (only for entries built in code).
    """
    data = entry.data
    life = data["lifecycle"]
    restart = life["restart"]
    seconds = actors.parse_duration
    ack = data.get("ack_timeout")
    kept = data.get("retention")
    retention = None
    if kept is not None:
        age = kept["max_age"]
        retention = RunRetention(
            keep_runs=kept["keep_runs"],
            keep_dead=kept["keep_dead"],
            max_age=None if age is None else seconds(age),
        )
    return durable_cron_spec(
        entry.id,
        data["store"],
        role=data["role"],
        tz=data["tz"],
        poll_interval=seconds(data["poll_interval"]),
        misfire_grace=seconds(data["misfire_grace"]),
        ack_timeout=None if ack is None else seconds(ack),
        max_attempts=data["max_attempts"],
        trigger_dir=data.get("trigger_dir"),
        retention=retention,
        requires=tuple(life["requires"]),
        auto_start=life["auto_start"],
        start_timeout=seconds(life["start_timeout"]),
        stop_timeout=seconds(life["stop_timeout"]),
        backoff=Backoff(
            initial=seconds(restart["initial_delay"]),
            factor=float(restart["backoff_factor"]),
            max_delay=seconds(restart["max_delay"]),
            jitter=float(restart["jitter"]),
            max_attempts=restart["max_attempts"],
            stable_threshold=seconds(life["stable_threshold"]),
        ),
    )
