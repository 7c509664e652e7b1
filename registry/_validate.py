"""Checks across entries: references point at entries of the right kind, no cycles, unique names.

Used by the index-file loader (problems carry file and line) and by :func:`validate_entries` for
entries built in code. Also the check of a ``cron.job`` entry's meta (:func:`check_cron_job`),
shared by ``load_app`` (at load) and the registry's job scheduler (on live changes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from actors import CatchUpPolicy, CronTrigger, Overlap, parse_duration

from ._entry import Entry
from ._exceptions import InvalidEntryError, Problem, RegistryError
from ._kinds import SCHEMAS, STORAGE_KINDS, check_fields, check_meta, references
from ._schema import Ctx

Location = tuple[str | None, int | None]
"""(file, line) of an entry, both ``None`` for entries built in code."""


def check_graph(
    entries: Sequence[Entry],
    problems: list[Problem],
    locations: Mapping[str, Location] | None = None,
    existing: Mapping[str, Entry] | None = None,
    declared: Mapping[str, str] | None = None,
) -> None:
    """Record dangling or mistyped references, ``requires``/router cycles, duplicate variables.

    Args:
        entries: the entries being checked.
        problems: where problems are appended.
        locations: entry id -> (file, line), for messages.
        existing: entries already in a registry, which references may also point at.
        declared: id -> kind of entries declared but not checked here (they had problems of
            their own), so references to them are not reported as dangling.
    """
    where = locations or {}
    known: dict[str, str] = {
        **(declared or {}),
        **{key: entry.kind for key, entry in (existing or {}).items()},
        **{entry.id: entry.kind for entry in entries},
    }

    def add(entry_id: str, field: str | None, message: str) -> None:
        file, line = where.get(entry_id, (None, None))
        problems.append(Problem(message, file, line, entry_id, field))

    edges: dict[str, list[tuple[str, str]]] = {}
    for entry in entries:
        for field, target, kinds in references(entry):
            found = known.get(target)
            if found is None:
                add(entry.id, field, f"refers to {target}, which is not declared")
            elif found not in kinds:
                wanted = "env.storage.*" if kinds == STORAGE_KINDS else " or a ".join(kinds)
                add(entry.id, field, f"refers to {target}, which is a {found}, not a {wanted}")
            elif field.startswith(("lifecycle.requires", "storages")):
                edges.setdefault(entry.id, []).append((field, target))

    for cycle in _cycles(edges):
        first = cycle[0]
        field = next(f for f, target in edges[first] if target == cycle[1])
        what = "requires" if field.startswith("lifecycle") else "storage routers"
        add(first, field, f"{what} form a cycle: {' -> '.join(cycle)}")

    owners: dict[str, str] = {
        entry.data["variable"]: entry.id
        for entry in (existing or {}).values()
        if entry.kind == "env.variable" and "variable" in entry.data
    }
    for entry in entries:
        if entry.kind != "env.variable" or "variable" not in entry.data:
            continue
        name = entry.data["variable"]
        owner = owners.setdefault(name, entry.id)
        if owner != entry.id:
            add(entry.id, "variable", f"variable name {name} is already declared by {owner}")


def _cycles(edges: Mapping[str, list[tuple[str, str]]]) -> list[list[str]]:
    """Return each elementary cycle found by depth-first search once, as a closed path."""
    cycles: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            cycle = path[path.index(node) :]
            key = frozenset(cycle)
            if key not in seen:
                seen.add(key)
                start = cycle.index(min(cycle))
                rotated = cycle[start:] + cycle[:start]
                cycles.append([*rotated, rotated[0]])
            return
        if node in done:
            return
        path.append(node)
        for _, target in edges.get(node, ()):
            visit(target, path)
        path.pop()
        done.add(node)

    for node in sorted(edges):
        visit(node, [])
    return cycles


def format_problems(problems: Sequence[Problem], what: str = "entries") -> str:
    """One problem as its paragraph, several as a count followed by one line each."""
    if len(problems) == 1:
        return str(problems[0])
    return "\n".join([f"{len(problems)} problems in {what}:", *(f"- {p}" for p in problems)])


def normalize(entry: Entry, problems: list[Problem], location: Location = (None, None)) -> Entry:
    """Check one entry of a built-in kind against its schema and return it with defaults filled.

    Entries of other kinds are returned unchanged: the registry itself accepts any kind.
    """
    if entry.kind not in SCHEMAS:
        return entry
    before = len(problems)
    ctx = Ctx(problems, entry.ns, file=location[0], line=location[1], entry=entry.id)
    meta = check_meta(entry.meta, ctx)
    data = check_fields(entry.kind, entry.data, ctx)
    if len(problems) > before or meta is None:
        return entry
    return Entry(entry.id, entry.kind, meta, data, origin=entry.origin)


def validate_entries(entries: Iterable[Entry], *, existing: Iterable[Entry] = ()) -> list[Entry]:
    """Check entries built in code as the loader checks index files; return them normalised.

    Every entry of a built-in kind is checked against its schema (unknown keys, types, ranges,
    durations) and gets its defaults filled in; then references, ``requires`` cycles and
    duplicate variable names are checked across ``entries`` and ``existing`` (e.g. the current
    registry snapshot). Entries of other kinds pass through unchanged.

    Args:
        entries (Iterable[Entry]): The entries to check.
        existing (Iterable[Entry]): Entries already in place that references may name (not
            checked themselves, not returned).

    Returns:
        list[Entry]: The checked entries with their defaults, sorted by id.

    Raises:
        InvalidEntryError: Every problem found, one per line (also an id declared twice).
    """
    problems: list[Problem] = []
    result = [normalize(entry, problems) for entry in entries]
    ids: dict[str, int] = {}
    for entry in result:
        ids[entry.id] = ids.get(entry.id, 0) + 1
    problems.extend(
        Problem(f"declared {count} times", entry=entry_id)
        for entry_id, count in ids.items()
        if count > 1
    )
    if not problems:
        check_graph(result, problems, existing={entry.id: entry for entry in existing})
    if problems:
        raise InvalidEntryError(format_problems(problems), problems)
    return sorted(result, key=lambda entry: entry.id)


def build(entry_id: str, kind: str, fields: Mapping[str, Any], meta: Any) -> Entry:
    """Build, check and normalise one entry of a built-in kind (the helpers' common core).

    Raises:
        InvalidEntryError: the id or a field is invalid; every problem is listed.
    """
    entry = Entry(entry_id, kind, meta or {}, {})
    if kind not in SCHEMAS:
        raise InvalidEntryError(f"unknown kind {kind!r} for entry {entry_id}")
    problems: list[Problem] = []
    ctx = Ctx(problems, entry.ns, entry=entry.id)
    data = check_fields(kind, fields, ctx)
    if problems:
        raise InvalidEntryError(format_problems(problems), problems)
    return Entry(entry.id, kind, entry.meta, data)


class CronJobError(RegistryError, ValueError):
    """A ``cron.job`` entry's meta is invalid; the message names the entry and every bad field."""


@attrs.frozen
class CronJob:
    """A validated ``cron.job`` entry: when to run it and under which policies."""

    entry_id: str
    """The ``function`` entry it runs (also the program id in the scheduler's runner)."""
    interval: float | None
    """Seconds between runs, or None for a cron job."""
    cron: str | None
    """The cron expression (``meta.cron``), or None for an interval job."""
    tz: str
    """The IANA zone the cron expression is read in (``meta.tz``, default ``UTC``)."""
    overlap: Overlap
    """What a run does while the previous one is still going (``meta.overlap``, default
    ``forbid``)."""
    policy: CatchUpPolicy
    """Misfire grace, catch-up and coalescing (``meta.misfire_grace``, ``meta.catch_up``,
    ``meta.coalesce``)."""
    jitter: float
    """Delay each run by a random amount up to this many seconds (``meta.jitter``)."""


def _duration(meta: Mapping[str, Any], key: str, default: float, problems: list[str]) -> float:
    value = meta.get(key, default)
    try:
        seconds = parse_duration(value)
    except (ValueError, TypeError) as error:
        problems.append(f"field meta.{key}: {error}")
        return default
    if seconds < 0:
        problems.append(f"field meta.{key}: must be >= 0, got {value!r}")
        return default
    return seconds


def _overlap(value: object, problems: list[str]) -> Overlap:
    if not isinstance(value, str):
        problems.append(f"field meta.overlap: must be a string, got {value!r}")
        return Overlap.forbid()
    mode, _, count = value.partition(":")
    try:
        if mode == "forbid" and not count:
            return Overlap.forbid()
        if mode == "replace" and not count:
            return Overlap.replace()
        if mode == "queue" and not count:
            return Overlap.queue()
        if mode == "allow" and count.isdigit():
            return Overlap.allow(int(count))
        if mode == "queue" and count.isdigit():
            return Overlap.queue(int(count))
    except ValueError as error:
        problems.append(f"field meta.overlap: {error}")
        return Overlap.forbid()
    problems.append(
        f"field meta.overlap: must be forbid, replace, queue, queue:N or allow:N, got {value!r}"
    )
    return Overlap.forbid()


def parse_cron_job(entry: Entry) -> CronJob:
    """Validate a ``cron.job`` entry's meta.

    Args:
        entry (Entry): A ``function`` entry with ``meta.type: cron.job``: ``meta.interval`` or
            ``meta.cron`` (with ``meta.tz``), and optional policies.

    Returns:
        CronJob: When to run it and under which policies.

    Raises:
        CronJobError: Naming the entry and every bad field (also an entry that is not a
            ``function``).
    """
    job, problems = check_cron_job(entry)
    if job is None:
        text = "; ".join(f"field {field}: {message}" for field, message in problems)
        raise CronJobError(f"cron job {entry.id}: {text}")
    return job


def check_cron_job(entry: Entry) -> tuple[CronJob | None, list[tuple[str, str]]]:
    """Check a ``cron.job`` entry's meta: the job, or ``None`` and every ``(field, message)``.

    ``load_app`` reports these problems as it reports every other index-file problem (file,
    entry, field), so a bad schedule stops the app before anything starts; the running
    scheduler logs them for entries changed later (``parse_cron_job``).
    """
    meta = entry.meta
    problems: list[str] = []
    if entry.kind != "function":
        problems.append(f"field kind: a cron.job must be a function entry, got {entry.kind!r}")
    interval: float | None = None
    cron = meta.get("cron")
    tz = meta.get("tz", "UTC")
    if ("interval" in meta) == ("cron" in meta):
        problems.append("field meta.interval: give exactly one of meta.interval and meta.cron")
    elif "interval" in meta:
        interval = _duration(meta, "interval", 0.0, problems)
        if interval == 0 and not problems:
            problems.append(f"field meta.interval: must be > 0, got {meta['interval']!r}")
        if "tz" in meta:
            problems.append("field meta.tz: only applies to meta.cron")
    else:
        if not isinstance(tz, str):
            problems.append(f"field meta.tz: must be an IANA zone name, got {tz!r}")
        elif not isinstance(cron, str):
            problems.append(f"field meta.cron: must be a cron expression string, got {cron!r}")
        else:
            try:
                CronTrigger(cron, tz=tz, hash_id=entry.id)
            except ValueError as error:
                field = (
                    "tz" if "zone" in str(error) and "cron expression" not in str(error) else "cron"
                )
                problems.append(f"field meta.{field}: {error}")
    overlap = _overlap(meta.get("overlap", "forbid"), problems)
    catch_up = meta.get("catch_up", "once")
    if catch_up not in ("none", "once", "all"):
        problems.append(f"field meta.catch_up: must be none, once or all, got {catch_up!r}")
        catch_up = "once"
    coalesce = meta.get("coalesce", True)
    if not isinstance(coalesce, bool):
        problems.append(f"field meta.coalesce: must be true or false, got {coalesce!r}")
        coalesce = True
    grace = _duration(meta, "misfire_grace", 60.0, problems)
    jitter = _duration(meta, "jitter", 0.0, problems)
    if problems:
        split = [problem.removeprefix("field ").split(": ", 1) for problem in problems]
        return None, [(field, message) for field, message in split]
    return CronJob(
        entry_id=entry.id,
        interval=interval,
        cron=cron if interval is None else None,
        tz=tz if interval is None else "UTC",
        overlap=overlap,
        policy=CatchUpPolicy(catch_up=catch_up, misfire_grace=grace, coalesce=coalesce),
        jitter=jitter,
    ), []
