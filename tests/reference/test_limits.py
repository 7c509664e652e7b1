"""docs/explanation/limits.md states every bound the code has, with the code's value.

Each row of ``LIMITS`` ties a constant (or a default) to the words the page uses for it: the
value must be the code's and the words must be on the page. A new bound in the code (a module
constant named like ``MAX_...``, ``..._LIMIT``, ``..._DEPTH``) must be added here and to the page,
or to ``NOT_LIMITS`` with the reason it is not one users meet.
"""

from __future__ import annotations

import importlib
import inspect
import re
from datetime import timedelta
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "explanation" / "limits.md"
KIB, MIB = 1 << 10, 1 << 20

# (module, constant, the code's value, words of the page that state it)
LIMITS = [
    ("actors._time._duration", "MAX_SECONDS", 10**12, "magnitude at most 10^12 s"),
    ("actors._time._duration", "MAX_TEXT", 100, "strings at most 100 characters"),
    ("actors._scheduling._cron", "MAX_EXPR_LENGTH", 256, "at most 256 characters"),
    ("actors.cron._atomicfs", "MAX_FILE_BYTES", MIB, "1 MiB read"),
    ("actors.cron._atomicfs", "MAX_JSON_DEPTH", 64, "JSON depth 64"),
    ("actors.cron._job", "MAX_JOB_BYTES", 256 * KIB, "256 KiB written"),
    ("actors.cron._job", "MAX_ID_LENGTH", 64, "1-64 characters from `a-z`"),
    ("actors.cron._job", "_SLUG_LENGTH", 48, "cut to 48"),
    ("actors.cron._store", "_STALE_LOCK", 30.0, "else after 30 s"),
    ("actors.cron._triggerfiles", "MAX_TRIGGER_BYTES", 4 * MIB, "trigger files | 4 MiB"),
    ("actors.cron._triggerfiles", "_MAX_TIME_TEXT", 64, "time text at most 64 characters"),
    ("actors.cron._schedule", "MAX_SCHEDULE", 300, "(`cron` field) | 300 characters"),
    ("actors.cron._schedule", "MIN_EVERY", timedelta(seconds=1), "`@every` 1 s to 3660 days"),
    ("actors.cron._schedule", "MAX_EVERY", timedelta(days=3660), "`@every` 1 s to 3660 days"),
    ("actors.cron._deadletters", "HISTORY_MAX_BYTES", 64 * KIB, "past 64 KiB"),
    ("actors.cron._deadletters", "HISTORY_KEEP", 200, "newest 200 lines"),
    ("actors.cron._deadletters", "_MAX_REASON", 2000, "reason cut to 2,000 characters"),
    ("actors.cron._deadletters", "MAX_DEAD_PER_JOB", 100, "at most 100 kept per job"),
    ("actors.cron._pgretention", "_MAX_KEEP", 10**9, "`keep_dead`) | 0 to 1,000,000,000"),
    ("registry._loader", "MAX_INDEX_BYTES", MIB, "`_index.yaml` files | 1 MiB"),
    ("registry._loader", "MAX_YAML_DEPTH", 64, "nesting depth 64"),
    ("registry._loader", "MAX_YAML_VALUES", 100_000, "100,000 values"),
    ("registry._storages", "MAX_ENV_FILE_BYTES", MIB, "(`.env`) files | 1 MiB"),
    ("registry._env", "_MAX_DIGITS", 100, "`int` / `float` | 100 characters"),
    ("registry._kinds", "MAX_POOL_SIZE", 10_000, "at most 10,000 workers"),
    ("actors._patterns._pool", "MAX_POOL_SIZE", 10_000, "at most 10,000 workers"),
    ("actors._patterns._groups", "MAX_GROUP_NAME", 255, "(`join`, `members`) | 1-255"),
    ("actors._patterns._bus", "MAX_VALUE", 255, "system, kind and path | 255 characters"),
    ("actors._patterns._bus", "MAX_PART", 80, "patterns | 80 characters"),
    ("actors.cluster._exports", "MAX_NAME", 512, "| 1-512 characters"),
    ("actors.cluster._global", "MAX_NAME", 255, '(`group.names.register`, `"name@*"`) | 1-255'),
    ("actors.cluster._global", "MAX_NAMES_PER_NODE", 100_000, "100,000 names per node"),
    ("actors.cluster._spanning", "MAX_MEMBERSHIPS_PER_NODE", 1_000_000, "1,000,000 (group,"),
    ("actors.cluster._open", "MAX_INCARNATION", 2**40 - 1, "| 0 to 2**40-1, so that PID"),
    ("actors._control._protocol", "MAX_REQUEST", 64 * KIB, "a request frame | 64 KiB"),
    ("actors._control._protocol", "MAX_REPLY", 32 * MIB, "a reply frame | 32 MiB"),
    ("actors._control._protocol", "MAX_ROWS", 10_000, "(`--limit`) | 1-10,000"),
    ("actors._control._protocol", "MAX_PAYLOAD", 60 * KIB, "`actors call` | 60 KiB"),
    ("actors._control._protocol", "MAX_RESULT", MIB, "result of `actors call` | 1 MiB"),
    ("actors._control._protocol", "MAX_STATE", MIB, "100 characters to 1 MiB"),
    ("actors._control._protocol", "MAX_TIMEOUT", 3600.0, "at most 3,600 s"),
    ("actors._control._protocol", "MAX_TRACE", 100_000, "1-100,000 events"),
    ("actors._control._directory", "MAX_LISTED", 10_000, "totals always given) | 1-10,000"),
    ("actors._control._directory", "GROUP_NAME", 255, "`actors groups GROUP` | 1-255 characters"),
    ("actors._control._trace", "BUFFER", 1000, "1,000 events buffered"),
    ("actors._control._usermetrics", "MAX_SERIES_ROWS", 20_000, "20,000 series"),
    ("actors._control._tree", "_STACK_DEPTH", 64, "`actors info` shows | 64 frames"),
    ("actors._control._server", "MAX_CONNECTIONS", 16, "served at once | 16"),
    ("actors._control._server", "IDLE_TIMEOUT", 30.0, "between requests | 30 s"),
    ("actors._control._server", "FRAME_TIMEOUT", 5.0, "length prefix | 5 s"),
    ("actors._control._server", "MAX_PATH", 100, "the socket path | 100 bytes"),
    ("actors._control._runtime", "MAX_ENTRY", 4096, "runtime folder | 4,096 bytes"),
    ("actors._scheduling._triggers", "DEFAULT_CAP", 100, "one by one | 100 (the rest"),
    ("actors._scheduling._triggers", "WALK_BUDGET", 200, "counting by arithmetic | 200"),
    ("actors._time._timers", "TICKER_BUFFER", 16, "16 by default (`TICKER_BUFFER`)"),
    ("actors._time._calendar", "MAX_BATCH", 2000, "timer wheel | 2,000"),
    ("actors._core._crashlog", "MAX_STREAKS", 1024, "1,024 functions"),
    ("actors._core._crashlog", "MAX_KINDS", 32, "32 distinct errors each"),
    ("actors._patterns._series", "MAX_METRICS", 1000, "metrics per node | 1,000"),
    ("actors._patterns._series", "MAX_LABELS", 10, "label names per metric | 10"),
    ("actors._patterns._series", "MAX_SERIES", 1000, "(`max_series`) | 1,000 by default"),
    ("actors._core._exceptions", "_MESSAGE_LIMIT", 200, "`LinkedProcessFailed` | 200"),
    ("actors._core._mailbox", "BACKLOG_WARN", 10_000, "before a warning | 10,000"),
    ("actors._core._mailbox", "BACKLOG_WARN_INTERVAL", 10.0, "at most every 10 s"),
    ("actors._core._watchdog", "_MAX_QUIET_KEYS", 1000, "quiet period | 1,000"),
    ("actors._core._loopscan", "_MAX_FRAMES", 10_000, "the watchdog walks | 10,000"),
    ("actors._core._threads", "HOLD_REAL_LIMIT", 5.0, "blocking call's thread (tests only) | 5 s"),
]


def _default(obj: object, name: str) -> object:
    if attrs.has(obj):  # type: ignore[arg-type]
        return getattr(attrs.fields(obj), name).default  # type: ignore[arg-type]
    return inspect.signature(obj).parameters[name].default  # type: ignore[arg-type]


# (module, class or function, parameter, the default, words of the page that state it)
DEFAULTS = [
    ("actors._scheduling._policies", "CatchUpPolicy", "limit", 100, "`CatchUpPolicy.limit`) | 100"),
    ("actors.cron._service", "cron_service", "catch_up_limit", 100, "(catch_up_limit=)`) | 100"),
    ("actors.cluster._unix", "UnixTransport", "max_frame", 8 * MIB, "8 MiB by default (64 bytes"),
    ("actors.cluster._redis", "RedisTransport", "max_frame", 8 * MIB, "Redis (`--cluster"),
    ("actors.cluster._redis", "RedisTransport", "max_inbox", 100_000, "100,000 by default"),
    ("actors.cluster._memory", "MemoryNetwork", "max_frame", 16 * MIB, "16 MiB by default"),
]

# Bounds written as literals where they are checked: (file, the check, words of the page).
LITERALS = [
    ("actors/_patterns/_pool.py", "len(name) > 200", "pool names | 1-200 characters"),
    ("actors/cron/_schedule.py", "len(name) > 64", "`CRON_TZ=`) | 1-64 characters"),
    ("actors/cron/_cli.py", "1 <= args.limit <= 10_000", "`history --limit` 1-10,000"),
    ("actors/cluster/_unix.py", "64 <= max_frame < 1 << 32", "(64 bytes to 4 GiB)"),
]

# Constants named like a bound that are not a limit a user meets, and why.
NOT_LIMITS = {
    "actors._core._shutdown.MAX_INTERVAL": "the longest pause between 'still blocked' reports",
    "registry._app.BLOCKED_MAX_INTERVAL": "the same for 'Exit blocked'",
    "actors._core._mailbox.FAIRNESS_BUDGET": "a time slice of the mailbox's fairness, tuning",
    "actors._core._mailbox.BACKLOG_BUDGET": "a time slice for draining a backlog, tuning",
    "actors._time._calendar._SCALED_MAX": "the largest time the timer wheel's integer slots hold",
    "actors._time._calendar._POOL_MAX": "lists kept for reuse by the timer wheel, a cache",
    "actors._scheduling._loop._MIN_SLEEP": "the shortest sleep of a schedule's loop, a floor",
    "actors.cron._pgservice._MIN_SLEEP": "the same for the PostgreSQL cron service",
    "actors.cron._pgretention._NO_LIMIT": "an OFFSET past any table (a count limit of None)",
    "actors.cron._recover.STEP_BUDGET": "a time slice of start-up recovery between checkpoints",
}

CONSTANT = re.compile(r"^(_?[A-Z][A-Z0-9_]*)\s*(?::[^=\n]+)?=[^=]", re.M)
"""A module-level constant (an assignment at the start of a line)."""
BOUND_NAME = re.compile(r"MAX|LIMIT|(^|_)CAP$|BUDGET$|KEEP$|DEPTH$|LENGTH$|^MIN_|BUFFER$")


def page() -> str:
    """The page with each table row's cells joined by `` | `` (as the words above are)."""
    return re.sub(r"[ \t]+", " ", PAGE.read_text(encoding="utf-8"))


@pytest.mark.parametrize(("module", "name", "value", "words"), LIMITS)
def test_constant(module: str, name: str, value: object, words: str) -> None:
    """The constant has the value the page states, in these words."""
    assert getattr(importlib.import_module(module), name) == value, f"{module}.{name}"
    assert words in page(), words


@pytest.mark.parametrize(("module", "owner", "name", "value", "words"), DEFAULTS)
def test_default(module: str, owner: str, name: str, value: object, words: str) -> None:
    """The default has the value the page states."""
    assert _default(getattr(importlib.import_module(module), owner), name) == value
    assert words in page(), words


@pytest.mark.parametrize(("path", "check", "words"), LITERALS)
def test_literal(path: str, check: str, words: str) -> None:
    """The check is in the code as written, and the page states its bound."""
    assert check in (ROOT / path).read_text(encoding="utf-8"), (path, check)
    assert words in page(), words


def test_every_bound_of_the_code_is_here() -> None:
    """A module constant named like a bound is in LIMITS (so on the page) or in NOT_LIMITS."""
    known = {f"{module}.{name}" for module, name, _, _ in LIMITS} | set(NOT_LIMITS)
    found = set()
    for path in sorted([*(ROOT / "actors").rglob("*.py"), *(ROOT / "registry").rglob("*.py")]):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for name in CONSTANT.findall(path.read_text(encoding="utf-8")):
            if BOUND_NAME.search(name.lstrip("_")):
                found.add(f"{module}.{name}")
    assert found - known == set(), "add these bounds to the page and LIMITS (or NOT_LIMITS)"
    listed = {f"{m}.{n}" for m, n, _, _ in LIMITS if BOUND_NAME.search(n.lstrip("_"))}
    assert listed <= found, "the scan misses constants it should see"
    assert set(NOT_LIMITS) <= found, "NOT_LIMITS names a constant that is gone"
