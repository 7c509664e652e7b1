"""Run policies as values, and the pure part of applying them: misfires, catch-up, coalescing.

The rules, with ``due`` = the fire times in ``(last_fire, now]``:

- A due fire ``t`` is a *misfire* when ``now - t > misfire_grace`` (it is later than the grace);
  otherwise it is *on time*. ``misfire_grace=None`` means nothing is ever a misfire.
- ``coalesce`` governs the on-time fires: when several are due (a stalled loop), True runs only
  the latest, False runs each of them.
- ``catch_up`` governs the misfires (typically: the process was down):

  - ``"none"``: drop them all.
  - ``"once"``: run the latest misfire once, unless an on-time fire runs anyway (it covers the
    backlog, so the misfires are dropped).
  - ``"all"``: run every misfire, oldest first, before the on-time fires.

- ``limit`` caps one plan: if the policy would run more than ``limit`` fires, the planner refuses
  the whole backlog, runs nothing, and says so (``refused=True``, ``skipped`` = how many).

Nothing is dropped silently: ``skipped`` counts every due fire the plan does not run, and
``last_due`` is the latest due fire, which the runtime records as its new ``last_fire`` so that
skipped fires are never planned again.

A plan costs the same after a day's outage as after fifty years': the trigger lists at most
``limit + 1`` fires and counts the rest without stepping through them (exact arithmetic for
interval triggers and for cron in fixed-offset zones), or, when it cannot, reports the counts
as lower bounds (``exact=False``: ``misfires >= N``). ``last_due`` and the fires run are exact.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import attrs

from .._time._duration import to_timedelta
from ._triggers import FirePlan, Trigger, as_utc

__all__ = ["CatchUpPlan", "CatchUpPolicy", "Overlap", "is_misfire", "plan_catch_up"]

CatchUpMode = Literal["none", "once", "all"]
OverlapMode = Literal["allow", "forbid", "queue", "replace"]

_TICK = timedelta(microseconds=1)


def _check_int(value: int, name: str, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def _to_grace(value: timedelta | float | None) -> timedelta | None:
    return None if value is None else to_timedelta(value, "misfire_grace", allow_zero=True)


def _check_choice(value: str, name: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def is_misfire(fire: datetime, started: datetime, grace: timedelta | float | None) -> bool:
    """Tell whether a run that starts at ``started`` for the fire time ``fire`` is a misfire.

    Args:
        fire (datetime): The scheduled fire time.
        started (datetime): When the run starts (or would start).
        grace (timedelta | float | None): The misfire grace (seconds or timedelta); None means
            no limit.

    Returns:
        bool: True when ``started - fire > grace``.

    Raises:
        ValueError: If ``fire`` or ``started`` is naive, or ``grace`` is malformed or negative.
    """
    limit = _to_grace(grace)
    late = as_utc(started, "started") - as_utc(fire, "fire")
    return limit is not None and late > limit


@attrs.frozen
class CatchUpPolicy:
    """How due fire times become runs: misfire grace, catch-up after downtime, coalescing.

    The defaults (Quartz's one-minute misfire threshold, Celery's and systemd's "run once after
    downtime", Kubernetes' 100-fire refusal) suit most jobs. See the module docstring.
    """

    catch_up: CatchUpMode = "once"
    """What to do with misfires: ``"none"``, ``"once"`` or ``"all"``."""
    misfire_grace: timedelta | None = attrs.field(
        default=timedelta(seconds=60), converter=_to_grace
    )
    """How late a fire may run and still be on time (``timedelta`` or seconds); None: no limit."""
    coalesce: bool = True
    """Run only the latest of several on-time fires."""
    limit: int = 100
    """The most fires one plan may run; past it the backlog is refused and reported."""

    def __attrs_post_init__(self) -> None:
        _check_choice(self.catch_up, "catch_up", ("none", "once", "all"))
        _check_int(self.limit, "limit", 1)


@attrs.frozen
class CatchUpPlan:
    """The runs to start now, and the accounting of what was not run."""

    fires: tuple[datetime, ...]
    """The fire times to run now, oldest first (each run is told its scheduled time)."""
    skipped: int
    """How many due fire times will not run (dropped misfires, coalesced or refused fires)."""
    next_fire: datetime | None
    """The first fire time after ``now``; None when the trigger is done or, for a fixed-delay
    trigger with a run planned, until that run finishes (ask ``trigger.next_fire(finished)``)."""
    misfires: int = 0
    """How many due fire times were later than the grace."""
    refused: bool = False
    """True when the plan would have run more than ``limit`` fires and so ran none."""
    last_due: datetime | None = None
    """The latest due fire time, run or not: the runtime's new ``last_fire``."""
    exact: bool = True
    """False when ``skipped`` and ``misfires`` are lower bounds (``misfires >= N``): the backlog
    was too long to step through and the trigger cannot count it by arithmetic (a cron
    schedule in a zone with daylight saving, or with ``L``, ``W`` or ``#`` fields). Whether
    the plan refuses, and which fires it runs, never depend on the exact count."""


def _latest(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def plan_catch_up(
    trigger: Trigger, last_fire: datetime | None, now: datetime, policy: CatchUpPolicy
) -> CatchUpPlan:
    """Decide which due fire times to run now, under a policy.

    Args:
        trigger (Trigger): The trigger.
        last_fire (datetime | None): The last fire time the runtime recorded (for a fixed-delay
            trigger, when the last run finished); None if it never fired, in which case fires
            from the trigger's ``start`` are due (a cron trigger without ``start`` has none).
        now (datetime): The current wall-clock time.
        policy (CatchUpPolicy): The policy.

    Returns:
        CatchUpPlan: The fires to run, the count of those skipped, and the next fire time.

    Raises:
        ValueError: If ``now`` or ``last_fire`` is naive.
    """
    now = as_utc(now, "now")
    missed, on_time = _split(trigger, last_fire, now, policy)

    if policy.coalesce and on_time.latest is not None:
        run_on_time: tuple[datetime, ...] = (on_time.latest,)
    else:
        run_on_time = on_time.due
    if policy.catch_up == "all":
        run_missed, run_missed_count = missed.due, missed.total
    elif policy.catch_up == "once" and missed.latest is not None and not on_time.total:
        run_missed, run_missed_count = (missed.latest,), 1
    else:
        run_missed, run_missed_count = (), 0
    on_time_count = len(run_on_time) if policy.coalesce else on_time.total

    total = missed.total + on_time.total
    refused = run_missed_count + on_time_count > policy.limit
    fires = () if refused else run_missed + run_on_time
    next_fire = on_time.next_fire
    if trigger.waits_for_run and total:
        # A fixed-delay run that starts now decides the next fire when it finishes; one that
        # was dropped restarts the chain from now.
        next_fire = None if fires else trigger.next_fire(now)
    return CatchUpPlan(
        fires=fires,
        skipped=total - len(fires),
        next_fire=next_fire,
        misfires=missed.total,
        refused=refused,
        last_due=on_time.latest or missed.latest,
        exact=missed.exact and on_time.exact,
    )


def _split(
    trigger: Trigger, last_fire: datetime | None, now: datetime, policy: CatchUpPolicy
) -> tuple[FirePlan, FirePlan]:
    """Plan the due fires as two parts: misfires (later than the grace) and on-time fires."""
    # List only what may run: a part with more than `limit` fires is refused, "once" and "none"
    # run no listed misfire, and coalescing runs only the latest on-time fire.
    cap = policy.limit + 1
    missed_cap = cap if policy.catch_up == "all" else 0
    on_time_cap = 0 if policy.coalesce else cap
    grace = policy.misfire_grace
    if grace is None:
        return _EMPTY, trigger.plan(last_fire, now, cap=on_time_cap)
    cutoff = now - grace - _TICK  # fires at or before cutoff are misfires
    if trigger.waits_for_run:  # at most one fire is ever due: classify it
        whole = trigger.plan(last_fire, now, cap=cap)
        if whole.latest is not None and whole.latest <= cutoff:
            return attrs.evolve(whole, next_fire=None), attrs.evolve(_EMPTY, next_fire=None)
        return _EMPTY, whole
    missed = trigger.plan(last_fire, cutoff, cap=missed_cap)
    if last_fire is None:
        after = now if trigger.start is None else cutoff
    else:
        after = max(as_utc(last_fire, "last_fire"), cutoff)
    return missed, trigger.plan(after, now, cap=on_time_cap)


_EMPTY = FirePlan(due=(), total=0, latest=None, next_fire=None)


@attrs.frozen
class Overlap:
    """What to do when a fire comes while earlier runs of the same job are still going.

    - ``allow``: start it, as long as fewer than ``limit`` runs are going; past that, skip it.
    - ``forbid``: skip it (Kubernetes ``Forbid``, APScheduler's ``max_instances=1``).
    - ``queue``: wait until fewer than ``limit`` runs are going, then start it, unless by then it
      has become a misfire (its wait is bounded by the misfire grace).
    - ``replace``: cancel the running one, then start the new one (Kubernetes ``Replace``).

    The runtime enforces this; here it is only a validated value. Build it with the named
    constructors::

        Overlap.allow(3)
        Overlap.forbid()

    Raises:
        ValueError: If the mode is unknown, ``limit`` is not an int >= 1, or ``limit`` is not 1 for
            ``forbid``/``replace``.
    """

    mode: OverlapMode = "forbid"
    """``"allow"``, ``"forbid"``, ``"queue"`` or ``"replace"``."""
    limit: int = 1
    """How many runs may go at once (``allow`` and ``queue``; ``forbid`` and ``replace``: 1)."""

    def __attrs_post_init__(self) -> None:
        _check_choice(self.mode, "mode", ("allow", "forbid", "queue", "replace"))
        _check_int(self.limit, "limit", 1)
        if self.mode in ("forbid", "replace") and self.limit != 1:
            raise ValueError(f"limit must be 1 for overlap mode {self.mode!r}, got {self.limit!r}")

    @classmethod
    def allow(cls, limit: int) -> Overlap:
        """Return a policy allowing up to ``limit`` concurrent runs (extra fires are skipped).

        Args:
            limit (int): The most runs at once, >= 1.

        Returns:
            Overlap: The policy.

        Raises:
            ValueError: If ``limit`` is not an int >= 1.
        """
        return cls("allow", limit)

    @classmethod
    def forbid(cls) -> Overlap:
        """Return a policy that skips a fire while a run is going.

        Returns:
            Overlap: The policy.
        """
        return cls("forbid")

    @classmethod
    def queue(cls, limit: int = 1) -> Overlap:
        """Return a policy that queues fires until fewer than ``limit`` runs are going.

        Args:
            limit (int): The most runs at once, >= 1.

        Returns:
            Overlap: The policy.

        Raises:
            ValueError: If ``limit`` is not an int >= 1.
        """
        return cls("queue", limit)

    @classmethod
    def replace(cls) -> Overlap:
        """Return a policy that cancels the running run and starts the new one.

        Returns:
            Overlap: The policy.
        """
        return cls("replace")
