"""Load ``_index.yaml`` files in the Wippy shape into validated, normalised entries.

A load reads every file, then checks in this order, collecting problems instead of stopping:
YAML syntax and duplicate keys; the file's ``version``/``namespace``/``entries``; each entry's
``name``/``kind`` and duplicate ids across files; the ``env.*`` entries (they define the
environment); every other entry after ``${env:...}`` interpolation; references and cycles across
all entries. If anything was found, one :class:`IndexFileError` lists it all.

A file is bounded before it is trusted: a regular file (never a FIFO or device, which would block
the read) of at most :data:`MAX_INDEX_BYTES`, nesting at most :data:`MAX_YAML_DEPTH` levels, and
at most :data:`MAX_YAML_VALUES` values counting each use of an alias (``*name``, ``<<: *name``)
as a full copy, so an alias bomb ("billion laughs") is refused before anything walks it, and no
alias inside the collection its anchor names (``&e {self: *e}``: a structure that contains itself
has no end to walk). Each refusal names the file and the line.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml

from ._entry import Entry, is_valid_id, is_valid_namespace
from ._env import Env
from ._exceptions import EnvError, IndexFileError, Problem
from ._interpolate import interpolate
from ._kinds import canonical_kind, check_fields, check_meta
from ._schema import Ctx, describe, unknown_key_message
from ._validate import Location, check_graph

INDEX_FILE = "_index.yaml"
MAX_INDEX_BYTES = 1 << 20
"""Largest index file read (1 MiB)."""
MAX_YAML_DEPTH = 64
"""Deepest nesting of mappings and sequences in an index file."""
MAX_YAML_VALUES = 100_000
"""Most values (scalars, mappings, sequences) in an index file, aliases counted at each use."""
_FILE_KEYS = ["version", "namespace", "entries"]
_ENTRY_KEYS = ("name", "kind", "meta")


@attrs.frozen
class _Raw:
    """One entry as read from a file, before its fields are checked."""

    file: Path
    line: int | None
    namespace: str
    id: str
    kind: str
    meta: Any
    fields: dict[str, Any]


def load_dir(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
) -> list[Entry]:
    """Load every ``_index.yaml`` below ``path`` (skipping hidden folders), sorted by id.

    Args:
        path (str | os.PathLike[str]): The app's folder, e.g. ``app/src``.
        environ (Mapping[str, str] | None): The OS environment for ``env.storage.os`` and
            interpolation; ``os.environ`` by default.

    Returns:
        list[Entry]: Every entry of every file, sorted by id.

    Raises:
        IndexFileError: If ``path`` is not a folder or has no index file, or any problem in
            any file; all listed.
    """
    root = Path(path)
    if not root.is_dir():
        raise IndexFileError([Problem("is not a directory", file=str(root))])
    files = sorted(
        found
        for found in root.rglob(INDEX_FILE)
        if not any(
            part.startswith(".") or part == "__pycache__"
            for part in found.relative_to(root).parts[:-1]
        )
    )
    if not files:
        raise IndexFileError([Problem(f"no {INDEX_FILE} found in this folder", file=str(root))])
    return load_files(files, environ=environ)


def load_file(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
) -> list[Entry]:
    """Load one index file; references must resolve inside it. See :func:`load_dir`.

    Args:
        path (str | os.PathLike[str]): The index file.
        environ (Mapping[str, str] | None): The OS environment for ``env.storage.os`` and
            interpolation; ``os.environ`` by default.

    Returns:
        list[Entry]: Its entries, sorted by id.

    Raises:
        IndexFileError: Any problem in the file (unreadable, bad YAML, bad fields,
            dangling references); all listed.
    """
    return load_files([Path(path)], environ=environ)


def load_files(
    paths: Iterable[str | os.PathLike[str]], *, environ: Mapping[str, str] | None = None
) -> list[Entry]:
    """Load several index files as one app (references may cross files). See :func:`load_dir`.

    Args:
        paths (Iterable[str | os.PathLike[str]]): The index files.
        environ (Mapping[str, str] | None): The OS environment for ``env.storage.os`` and
            interpolation; ``os.environ`` by default.

    Returns:
        list[Entry]: Every entry of every file, sorted by id.

    Raises:
        IndexFileError: Any problem in any file (including an id declared twice); all
            listed.
    """
    environ = os.environ if environ is None else environ
    problems: list[Problem] = []
    raws: list[_Raw] = []
    for path in paths:
        raws.extend(_read_file(Path(path), problems))

    locations: dict[str, Location] = {}
    unique: list[_Raw] = []
    for raw in raws:
        if raw.id in locations:
            file, line = locations[raw.id]
            problems.append(
                Problem(
                    f"duplicate id; first declared at {file}:{line}",
                    str(raw.file),
                    raw.line,
                    raw.id,
                )
            )
            continue
        locations[raw.id] = (str(raw.file), raw.line)
        unique.append(raw)

    partial: list[Entry] = []  # entries with problems, still checked for references
    env_entries = [
        entry
        for raw in unique
        if raw.kind.startswith("env.")
        for entry in _check(raw, problems, partial)
    ]
    env: Env | None
    try:
        env = Env.from_entries(env_entries, environ=environ)
    except EnvError:
        env = None  # the dangling storage reference is reported by check_graph below

    def lookup(name: str) -> str | None:
        if env is not None and name in env:
            return env.lookup_text(name)
        return environ.get(name)

    entries = list(env_entries)
    for raw in unique:
        if not raw.kind.startswith("env."):
            entries.extend(_check(raw, problems, partial, lookup))
    declared = {raw.id: raw.kind for raw in unique}
    check_graph([*entries, *partial], problems, locations, declared=declared)
    if problems:
        problems.sort(key=lambda problem: (problem.file or "", problem.line or 0))
        raise IndexFileError(problems)
    return sorted(entries, key=lambda entry: entry.id)


def _check(
    raw: _Raw, problems: list[Problem], partial: list[Entry], lookup: Any = None
) -> list[Entry]:
    """Interpolate (unless ``lookup`` is None), check and build one entry.

    Returns ``[entry]``, or ``[]`` when it has problems; then what could be checked of it goes
    to ``partial`` so its references are checked too.
    """
    before = len(problems)
    ctx = Ctx(problems, raw.namespace, str(raw.file), raw.line, raw.id, raw.file.parent)
    fields, meta = raw.fields, raw.meta
    if lookup is not None:
        fields = interpolate(fields, lookup, ctx, "")
        meta = interpolate(meta, lookup, ctx, "meta")
    checked_meta = check_meta(meta, ctx)
    data = check_fields(raw.kind, fields, ctx, also_allowed=_ENTRY_KEYS)
    if len(problems) > before or checked_meta is None:
        partial.append(Entry(raw.id, raw.kind, {}, data, origin=str(raw.file)))
        return []
    return [Entry(raw.id, raw.kind, checked_meta, data, origin=str(raw.file))]


def _read_file(path: Path, problems: list[Problem]) -> list[_Raw]:
    file = str(path)
    try:
        text = _read_text(path)
    except (OSError, ValueError) as error:  # UnicodeDecodeError is a ValueError
        problems.append(Problem(f"cannot read the file: {error}", file))
        return []
    loader: yaml.SafeLoader | None = None
    try:
        if (too_big := _check_shape(text)) is not None:
            problems.append(Problem(too_big[0], file, too_big[1]))
            return []
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        before = len(problems)  # checked before PyYAML's merge (<<: *a) flattens the keys
        _check_duplicate_keys(node, file, problems)
        if len(problems) > before:
            return []
        document = loader.construct_document(node) if node is not None else None
    except yaml.reader.ReaderError as error:  # a NUL or other control character
        at: int | None = text.count("\n", 0, error.position) + 1
        code = error.character if isinstance(error.character, int) else ord(error.character)
        message = f"malformed YAML: character U+{code:04X} is not allowed (not printable)"
        problems.append(Problem(message, file, at))
        return []
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(error, "problem", None) or str(error)
        problems.append(Problem(f"malformed YAML: {reason}", file, line))
        return []
    except (ValueError, OverflowError, TypeError, RecursionError) as error:
        # a scalar PyYAML cannot build: 2024-02-30, an int of 5,000 digits...
        problems.append(Problem(f"malformed YAML: {error}", file))
        return []
    finally:
        if loader is not None:
            loader.dispose()
    return _read_document(document, node, path, problems)


def _read_text(path: Path) -> str:
    """Read a regular UTF-8 file of at most ``MAX_INDEX_BYTES``, never blocking on a FIFO."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > MAX_INDEX_BYTES:
            raise ValueError(f"{info.st_size} bytes, over the limit of {MAX_INDEX_BYTES}")
        with os.fdopen(os.dup(fd), "rb") as f:
            raw = f.read(MAX_INDEX_BYTES + 1)
    finally:
        os.close(fd)
    if len(raw) > MAX_INDEX_BYTES:
        raise ValueError(f"over the limit of {MAX_INDEX_BYTES} bytes")
    return raw.decode("utf-8")


def _check_shape(text: str) -> tuple[str, int] | None:
    """Check depth and alias-expanded size on the parser's events, before anything is built.

    Returns:
        (message, line) of the first limit passed, or None.
    """
    sizes: dict[str, int] = {}  # anchor -> values in its subtree, aliases expanded
    stack: list[tuple[str | None, int]] = []  # open collections: anchor, values so far
    total = 0
    loader = yaml.SafeLoader(text)
    try:
        while (event := loader.get_event()) is not None and not isinstance(  # type: ignore[no-untyped-call]
            event, yaml.StreamEndEvent
        ):
            line = event.start_mark.line + 1
            if isinstance(event, yaml.CollectionStartEvent):
                stack.append((event.anchor, 1))
                if len(stack) > MAX_YAML_DEPTH:
                    return f"nested deeper than {MAX_YAML_DEPTH} levels", line
                continue
            if isinstance(event, yaml.AliasEvent):
                if any(anchor == event.anchor for anchor, _ in stack):
                    return (
                        f"alias *{event.anchor} is inside the collection its anchor "
                        f"&{event.anchor} names: a structure that contains itself is refused",
                        line,
                    )
                count = sizes.get(event.anchor or "", 1)
            elif isinstance(event, yaml.ScalarEvent):
                count = 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.CollectionEndEvent) and stack:
                anchor, count = stack.pop()
                if anchor is not None:
                    sizes[anchor] = count
            else:
                continue
            total += count
            if stack:
                stack[-1] = (stack[-1][0], stack[-1][1] + count)
            if total > MAX_YAML_VALUES:
                return (
                    f"more than {MAX_YAML_VALUES} values (each use of an alias counts "
                    "as a full copy): refused as a possible alias bomb",
                    line,
                )
    finally:
        loader.dispose()
    return None


def _check_duplicate_keys(node: yaml.Node | None, file: str, problems: list[Problem]) -> None:
    # PyYAML keeps the last of two equal keys; a silently lost setting is what we refuse.
    # Iterative, each node once: ends even on a structure that contains itself.
    stack = [node]
    visited: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in visited:
            continue
        visited.add(id(current))
        if isinstance(current, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode) and key.value != "<<":
                    if key.value in seen:
                        problems.append(
                            Problem(f"duplicate key {key.value!r}", file, key.start_mark.line + 1)
                        )
                    seen.add(key.value)
                stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(reversed(current.value))


def _read_document(
    document: Any, node: yaml.Node | None, path: Path, problems: list[Problem]
) -> list[_Raw]:
    file = str(path)
    if not isinstance(document, dict):
        problems.append(
            Problem(
                f"expected a mapping with version, namespace and entries, got {describe(document)}",
                file,
            )
        )
        return []
    lines = _key_lines(node)
    bad = len(problems)
    problems.extend(
        Problem(unknown_key_message(key, _FILE_KEYS), file, lines.get(key))
        for key in document
        if key not in _FILE_KEYS
    )
    version = document.get("version")
    if version != "1.0" or not isinstance(version, str):
        hint = ' (quote it in YAML: version: "1.0")' if version == 1.0 else ""
        problems.append(
            Problem(
                f'version must be "1.0"{hint}, got {describe(version)}', file, lines.get("version")
            )
        )
    namespace = document.get("namespace")
    if not is_valid_namespace(namespace):
        problems.append(
            Problem(
                "namespace must be dot-separated words such as 'app' or 'app.jobs', "
                f"got {describe(namespace)}",
                file,
                lines.get("namespace"),
            )
        )
    entries = document.get("entries", [])
    if not isinstance(entries, list):
        problems.append(
            Problem(f"entries must be a list, got {describe(entries)}", file, lines.get("entries"))
        )
        return []
    if len(problems) > bad:
        return []
    assert isinstance(namespace, str)
    entry_lines = _item_lines(node, "entries")
    raws = []
    for index, item in enumerate(entries):
        line = entry_lines[index] if index < len(entry_lines) else None
        raw = _read_entry(item, index, namespace, path, line, problems)
        if raw is not None:
            raws.append(raw)
    return raws


def _read_entry(
    item: Any, index: int, namespace: str, path: Path, line: int | None, problems: list[Problem]
) -> _Raw | None:
    file = str(path)
    label = f"entries[{index}]"
    if not isinstance(item, dict):
        problems.append(Problem(f"expected a mapping, got {describe(item)}", file, line, label))
        return None
    name = item.get("name")
    entry_id = f"{namespace}:{name}"
    if not isinstance(name, str) or not is_valid_id(entry_id):
        message = (
            "required key is missing"
            if "name" not in item
            else "expected a name of dot-separated words (letters, digits, '_', '-') such as "
            f"'job.heartbeat', got {describe(name)}"
        )
        problems.append(Problem(message, file, line, label, "name"))
        return None
    kind_written = item.get("kind")
    if not isinstance(kind_written, str):
        message = (
            "required key is missing"
            if "kind" not in item
            else f"expected a kind, got {describe(kind_written)}"
        )
        problems.append(Problem(message, file, line, entry_id, "kind"))
        return None
    kind, error = canonical_kind(kind_written)
    if kind is None:
        problems.append(Problem(str(error), file, line, entry_id, "kind"))
        return None
    fields = {key: value for key, value in item.items() if key not in _ENTRY_KEYS}
    return _Raw(path, line, namespace, entry_id, kind, item.get("meta"), fields)


def _key_lines(node: yaml.Node | None) -> dict[Any, int]:
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {
        key.value: key.start_mark.line + 1
        for key, _ in node.value
        if isinstance(key, yaml.ScalarNode)
    }


def _item_lines(node: yaml.Node | None, key: str) -> list[int]:
    if not isinstance(node, yaml.MappingNode):
        return []
    for key_node, value in node.value:
        matches = isinstance(key_node, yaml.ScalarNode) and key_node.value == key
        if matches and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []
