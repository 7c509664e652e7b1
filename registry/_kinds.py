"""The built-in entry kinds: their fields, defaults, aliases and the references between entries.

Each kind's schema turns the raw fields (from YAML or from a builder) into normalised entry data:
unknown keys and wrong types are problems, defaults are filled in, short references are completed
with the namespace, durations stay as written once they are known to parse.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from actors import parse_duration as _parse_duration

from ._entry import Entry
from ._env import convert
from ._schema import (
    INVALID,
    OMIT,
    Bad,
    Ctx,
    Field,
    any_value,
    boolean,
    choice,
    duration,
    integer,
    list_of,
    mapping_of,
    number,
    obj,
    reference,
    run,
    scalar_text,
    string,
    unknown_key_message,
)

_DOTTED_NAME = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
_IMPORT_PATH = re.compile(rf"({_DOTTED_NAME})(?::({_DOTTED_NAME}))?")
VARIABLE_NAME = r"[A-Za-z0-9_]+"
ENV_TYPES = ("str", "int", "float", "bool", "duration")
STORAGE_KINDS = (
    "env.storage.os",
    "env.storage.file",
    "env.storage.memory",
    "env.storage.static",
    "env.storage.router",
)
ALIASES = {"process.service": "service", "process.host": "host", "process.pool": "pool"}
"""Wippy spellings accepted in index files and stored under our kind name."""


def _source(value: Any, ctx: Ctx, path: str) -> Any:
    if callable(value) and not isinstance(value, str):
        return value  # code-only: the callable itself
    if not isinstance(value, str) or not value:
        raise Bad(f"expected 'file://path.py' or 'package.module:function', got {value!r}")
    if value.startswith("file://"):
        relative = value[len("file://") :]
        if not relative.endswith(".py"):
            raise Bad(f"a file:// source must name a .py file, got {value!r}")
        if ctx.base_dir is not None and not (ctx.base_dir / relative).is_file():
            raise Bad(f"source file {str(ctx.base_dir / relative)!r} does not exist")
        return value
    if _IMPORT_PATH.fullmatch(value) is None:
        raise Bad(f"expected 'file://path.py' or 'package.module:function', got {value!r}")
    return value


def _callable_post(data: dict[str, Any], ctx: Ctx) -> None:
    source = data.get("source")
    if isinstance(source, str) and not source.startswith("file://"):
        match = _IMPORT_PATH.fullmatch(source)
        if match is not None and match.group(2) is not None:
            if "method" in data:
                ctx.add(
                    "method",
                    f"not allowed when source already names the function ({source!r}); "
                    f"use source {match.group(1)!r} with method {data['method']!r}, "
                    "or drop method",
                )
            return
    if source is not None and not callable(source):
        data.setdefault("method", "main")


def _restart_post(data: dict[str, Any], ctx: Ctx) -> None:
    restart = data.get("lifecycle", {}).get("restart", {})
    try:
        initial = _parse_duration(restart["initial_delay"])
        maximum = _parse_duration(restart["max_delay"])
    except (KeyError, ValueError):
        return
    if maximum < initial:
        ctx.add(
            "lifecycle.restart.max_delay",
            f"must not be shorter than initial_delay ({restart['initial_delay']!r}), "
            f"got {restart['max_delay']!r}",
        )


def _pool_post(data: dict[str, Any], ctx: Ctx) -> None:
    size = data.get("size")
    if isinstance(size, int) and size > MAX_POOL_SIZE:
        ctx.add("size", f"must be at most {MAX_POOL_SIZE}, got {size}")
    _restart_post(data, ctx)


def _env_variable_post(data: dict[str, Any], ctx: Ctx) -> None:
    if "default" in data and "type" in data:
        try:
            convert(data["default"], data["type"])
        except ValueError as error:
            ctx.add("default", f"does not fit type {data['type']}: {error}")


_METHOD = string(_DOTTED_NAME, "a function name such as 'main'")
_CALLABLE_FIELDS = {"source": Field(_source), "method": Field(_METHOD, OMIT)}
_RESTART = obj(
    {
        "initial_delay": Field(duration(), "1s"),
        "max_delay": Field(duration(), "90s"),
        "backoff_factor": Field(number(minimum=1.0), 2.0),
        "jitter": Field(number(minimum=0.0, maximum=1.0), 0.1),
        "max_attempts": Field(integer(0), 0),
    }
)
_SERVICE_LIFECYCLE = obj(
    {
        "auto_start": Field(boolean, False),
        "requires": Field(list_of(reference), []),
        "start_timeout": Field(duration(positive=True), "10s"),
        "stop_timeout": Field(duration(positive=True), "10s"),
        "stable_threshold": Field(duration(), "5s"),
        "restart": Field(_RESTART, {}),
        "critical": Field(boolean, True),
        "ready": Field(boolean, False),
    }
)
_POOL_LIFECYCLE = obj(
    {
        "max_restarts": Field(integer(0), 10),
        "period": Field(duration(positive=True), "5s"),
        "stop_timeout": Field(duration(), "5s"),
        "restart": Field(_RESTART, {}),
    }
)
ROUTINGS = ("round_robin", "smallest_mailbox", "consistent_hash")
MAX_POOL_SIZE = 10_000
_HOST_LIFECYCLE = obj(
    {
        "auto_start": Field(boolean, False),
        "start_timeout": Field(duration(positive=True), "10s"),
        "stop_timeout": Field(duration(positive=True), "10s"),
    }
)
_HOST = obj(
    {
        "max_processes": Field(integer(1, nullable=True), None),
        # Accepted for Wippy compatibility; trio has one scheduler, so they change nothing.
        "workers": Field(integer(1), OMIT),
        "queue_size": Field(integer(1), OMIT),
        "local_queue_size": Field(integer(1), OMIT),
    }
)

_CRON_LIFECYCLE = obj(
    {
        "auto_start": Field(boolean, True),
        "requires": Field(list_of(reference), []),
        "start_timeout": Field(duration(positive=True), "10s"),
        "stop_timeout": Field(duration(positive=True), "10s"),
        "stable_threshold": Field(duration(), "5s"),
        "restart": Field(_RESTART, {}),
    }
)
CRON_ROLES = ("all", "schedule", "deliver")


def _cron_store(value: Any, ctx: Ctx, path: str) -> str:
    """A ``postgresql://`` URL as written, or a folder made absolute from the index file's."""
    if not isinstance(value, str) or not value or "\x00" in value:
        raise Bad(f"expected a data folder or a postgresql:// URL, got {value!r}")
    if value.startswith(("postgresql://", "postgres://")) or ctx.base_dir is None:
        return value
    return str(ctx.base_dir / value)


def _max_age(value: Any, ctx: Ctx, path: str) -> Any:
    """A positive duration, or ``null`` for no age limit."""
    return None if value is None else duration(positive=True)(value, ctx, path)


_CRON_RETENTION = obj(
    {
        "keep_runs": Field(integer(0, nullable=True), 200),
        "keep_dead": Field(integer(0, nullable=True), 100),
        "max_age": Field(_max_age, "720h"),
    }
)


def _cron_durable_post(data: dict[str, Any], ctx: Ctx) -> None:
    _restart_post(data, ctx)
    tz = data.get("tz")
    if isinstance(tz, str):
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            ctx.add("tz", f"unknown time zone {tz!r}; use an IANA name such as 'Europe/Berlin'")
    store = data.get("store", "")
    url = isinstance(store, str) and store.startswith(("postgresql://", "postgres://"))
    if data.get("role") == "deliver" and url:
        ctx.add("role", "'deliver' reads a data folder's trigger files, not a PostgreSQL store")
    if "trigger_dir" in data and not (url and data.get("role") == "schedule"):
        ctx.add("trigger_dir", "only for role 'schedule' on a postgresql:// store")
    if url and data.get("role") == "schedule" and "trigger_dir" not in data:
        ctx.add("trigger_dir", "required for role 'schedule' on a postgresql:// store")
    if "retention" in data and not url:
        ctx.add("retention", "only for a postgresql:// store (a data folder bounds its history)")


Post = Callable[[dict[str, Any], Ctx], None]
SCHEMAS: dict[str, tuple[Mapping[str, Field] | None, Post | None]] = {
    "process": (_CALLABLE_FIELDS, _callable_post),
    "function": (
        {**_CALLABLE_FIELDS, "blocking": Field(boolean, False)},
        _callable_post,
    ),
    "service": (
        {
            "process": Field(reference),
            "host": Field(reference, OMIT),
            "input": Field(list_of(any_value), []),
            "lifecycle": Field(_SERVICE_LIFECYCLE, {}),
        },
        _restart_post,
    ),
    "pool": (
        {
            "process": Field(reference),
            "size": Field(integer(1)),
            "routing": Field(choice(*ROUTINGS), "round_robin"),
            "input": Field(list_of(any_value), []),
            "lifecycle": Field(_POOL_LIFECYCLE, {}),
        },
        _pool_post,
    ),
    "host": ({"host": Field(_HOST, {}), "lifecycle": Field(_HOST_LIFECYCLE, {})}, None),
    "env.variable": (
        {
            "variable": Field(string(VARIABLE_NAME, "a name of letters, digits and '_'"), OMIT),
            "storage": Field(reference),
            "default": Field(scalar_text, OMIT),
            "readonly": Field(boolean, False),
            "type": Field(choice(*ENV_TYPES), "str"),
        },
        _env_variable_post,
    ),
    "env.storage.os": ({}, None),
    "env.storage.memory": ({}, None),
    "env.storage.file": (
        {
            "file_path": Field(string(what="a file path")),
            "auto_create": Field(boolean, False),
            "file_mode": Field(integer(0), 0o600),
        },
        None,
    ),
    "env.storage.static": ({"values": Field(mapping_of(scalar_text), {})}, None),
    "env.storage.router": ({"storages": Field(list_of(reference, min_items=1))}, None),
    "registry.entry": (None, None),
    "cron.durable": (
        {
            "store": Field(_cron_store),
            "role": Field(choice(*CRON_ROLES), "all"),
            "tz": Field(string(what="an IANA time zone such as 'Europe/Berlin'"), "UTC"),
            "poll_interval": Field(duration(positive=True), "0.5s"),
            "misfire_grace": Field(duration(), "60s"),
            "ack_timeout": Field(duration(positive=True), OMIT),
            "max_attempts": Field(integer(0), 20),
            "trigger_dir": Field(_cron_store, OMIT),
            "retention": Field(_CRON_RETENTION, OMIT),
            "lifecycle": Field(_CRON_LIFECYCLE, {}),
        },
        _cron_durable_post,
    ),
}
"""kind -> (fields, post-check); ``None`` fields means free data (any keys, any values)."""

KINDS = tuple(sorted(SCHEMAS))


def canonical_kind(kind: str) -> tuple[str | None, str | None]:
    """Return ``(our kind, None)`` or ``(None, error message)`` for a kind as written."""
    kind = ALIASES.get(kind, kind)
    if kind in SCHEMAS:
        return kind, None
    if kind.endswith(".lua"):
        ours = kind.removesuffix(".lua")
        return None, (
            f"kind {kind!r} is a Wippy Lua kind and actors runs Python: use kind {ours!r} "
            "with source: file://module.py and method: <function>"
        )
    return None, f"unknown kind {kind!r}; known kinds: {', '.join(KINDS)}"


def check_fields(
    kind: str, fields: Mapping[str, Any], ctx: Ctx, *, also_allowed: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Validate and normalise the data fields of an entry of a known ``kind``.

    ``also_allowed`` lists keys handled by the caller, named in unknown-key messages.
    """
    schema, post = SCHEMAS[kind]
    if schema is None:
        data: dict[str, Any] = any_value(fields, ctx, "")
        return data
    data = obj(schema, also_allowed=also_allowed)(fields, ctx, "")
    if post is not None:
        post(data, ctx)
    return data


def check_meta(meta: Any, ctx: Ctx) -> dict[str, Any] | None:
    """Validate ``meta`` (a mapping with string keys, free values); ``None`` if it is invalid."""
    if meta is None:
        return {}
    before = len(ctx.problems)
    result = run(mapping_of(any_value), meta, ctx, "meta")
    if result is INVALID or len(ctx.problems) > before:
        return None
    return dict(result)


def unknown_fields(kind: str, fields: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return ``(key, message)`` for each data key a builder got that ``kind`` does not have."""
    schema, _ = SCHEMAS[kind]
    if schema is None:
        return []
    return [(key, unknown_key_message(key, list(schema))) for key in fields if key not in schema]


Reference = tuple[str, str, tuple[str, ...]]
"""(field path, target id, kinds the target may have)."""


def references(entry: Entry) -> list[Reference]:
    """Return the references an entry of a built-in kind makes to other entries.

    Tolerates partial data (fields that failed their checks are missing), so references of an
    entry with other problems are still checked.
    """
    data = entry.data
    refs: list[Reference] = []
    if entry.kind == "cron.durable":
        for i, target in enumerate(data.get("lifecycle", {}).get("requires", ())):
            refs.append((f"lifecycle.requires[{i}]", target, ("service", "cron.durable")))
    elif entry.kind == "service":
        if "process" in data:
            refs.append(("process", data["process"], ("process",)))
        if "host" in data:
            refs.append(("host", data["host"], ("host",)))
        for i, target in enumerate(data.get("lifecycle", {}).get("requires", ())):
            refs.append((f"lifecycle.requires[{i}]", target, ("service",)))
    elif entry.kind == "pool" and "process" in data:
        refs.append(("process", data["process"], ("process",)))
    elif entry.kind == "env.variable" and "storage" in data:
        refs.append(("storage", data["storage"], STORAGE_KINDS))
    elif entry.kind == "env.storage.router":
        for i, target in enumerate(data.get("storages", ())):
            refs.append((f"storages[{i}]", target, STORAGE_KINDS))
    return refs
