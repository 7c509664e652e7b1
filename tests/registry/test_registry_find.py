"""Tests for find: the Wippy filter syntax, the keyword form, errors and ordering."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry import Entry, InvalidFilterError, Registry

ENTRIES = [
    Entry(
        "app:job.heartbeat",
        "function",
        meta={"type": "cron.job", "interval": "1s", "tags": ["fast", "core"], "n": 1},
    ),
    Entry("app:job.backup", "function", meta={"type": "cron.job", "interval": "7s", "n": True}),
    Entry("app.workers:handler", "process", meta={"type": "worker", "opts": {"level": "hi"}}),
    Entry("app:config", "registry.entry", meta={"tags": ["core"]}),
]


@pytest.fixture(name="registry")
def _registry() -> Registry:
    return Registry.from_entries(reversed(ENTRIES))


def ids(entries: list[Entry]) -> list[str]:
    return [entry.id for entry in entries]


class TestFilterSyntax:
    """Each Wippy filter form selects the documented entries, sorted by id."""

    @pytest.mark.parametrize(
        ("filter", "expected"),
        [
            ({"meta.type": "cron.job"}, ["app:job.backup", "app:job.heartbeat"]),
            ({"meta.tags": ["core"]}, ["app:config", "app:job.heartbeat"]),
            ({"meta.tags": ["core", "fast"]}, ["app:job.heartbeat"]),
            ({"meta.tags": "core"}, []),
            ({"meta.opts.level": "hi"}, ["app.workers:handler"]),
            ({"meta.n": 1}, ["app:job.heartbeat"]),
            ({"meta.n": True}, ["app:job.backup"]),
            ({"~meta.interval": r"^\ds$"}, ["app:job.backup", "app:job.heartbeat"]),
            ({"~meta.interval": "7"}, ["app:job.backup"]),
            ({"*meta.type": "job"}, ["app:job.backup", "app:job.heartbeat"]),
            ({"*meta.tags": "ore"}, ["app:config", "app:job.heartbeat"]),
            ({"^meta.type": "work"}, ["app.workers:handler"]),
            ({"$meta.interval": "7s"}, ["app:job.backup"]),
            ({".kind": "function"}, ["app:job.backup", "app:job.heartbeat"]),
            ({".kind": "func*"}, ["app:job.backup", "app:job.heartbeat"]),
            ({".ns": "app.workers"}, ["app.workers:handler"]),
            (
                {".ns": "app*"},
                ["app.workers:handler", "app:config", "app:job.backup", "app:job.heartbeat"],
            ),
            ({".name": "job.*"}, ["app:job.backup", "app:job.heartbeat"]),
            ({".name": "*.*t"}, ["app:job.heartbeat"]),
            ({".id": "app:config"}, ["app:config"]),
            ({"^.id": "app:job"}, ["app:job.backup", "app:job.heartbeat"]),
            ({".kind": "function", "meta.interval": "1s"}, ["app:job.heartbeat"]),
            ({"meta.missing": None}, []),
            ({}, ["app.workers:handler", "app:config", "app:job.backup", "app:job.heartbeat"]),
        ],
    )
    def test_filter(self, registry: Registry, filter: dict[str, Any], expected: list[str]) -> None:
        """The filter selects exactly the expected ids, in id order."""
        assert ids(registry.find(filter)) == expected

    def test_no_filter_returns_everything_sorted(self, registry: Registry) -> None:
        """find() lists every entry by id."""
        assert ids(registry.find()) == sorted(entry.id for entry in ENTRIES)


class TestKeywordForm:
    """Keywords add conditions that combine with the filter mapping."""

    def test_kind_and_meta(self, registry: Registry) -> None:
        """kind= and meta= are .kind and meta.<key> equality."""
        found = registry.find(kind="function", meta={"interval": "7s"})
        assert ids(found) == ["app:job.backup"]

    def test_globs_and_mapping_combine(self, registry: Registry) -> None:
        """Keywords and the mapping are ANDed."""
        found = registry.find({"*meta.type": "job"}, name="job.h*", ns="app", id="app:*")
        assert ids(found) == ["app:job.heartbeat"]

    def test_snapshot_find(self, registry: Registry) -> None:
        """A snapshot supports the same find."""
        assert ids(registry.snapshot().find(kind="process")) == ["app.workers:handler"]


class TestBadFilters:
    """Malformed filters raise InvalidFilterError naming the key, never match everything."""

    @pytest.mark.parametrize(
        ("filter", "message"),
        [
            (
                {"kind": "function"},
                "unknown filter key 'kind' (did you mean '.kind'?); keys are .kind, .ns, "
                ".name, .id or meta.<field>, optionally prefixed by ~ (regex), * (substring), "
                "^ (prefix) or $ (suffix)",
            ),
            ({"type": "cron.job"}, "unknown filter key 'type' (did you mean 'meta.type'?); "),
            ({"meta": "x"}, "unknown filter key 'meta' (name a field, e.g. 'meta.type'); "),
            ({"meta.": "x"}, "unknown filter key 'meta.' (did you mean 'meta.meta.'?); "),
            ({".owner": "x"}, "unknown filter key '.owner': keys are "),
            ({"~meta.x": "("}, "filter '~meta.x' has an invalid regular expression '(': "),
            ({"~meta.x": 1}, "filter '~meta.x' (regex) needs a string value, got 1"),
            ({".kind": 1}, "filter '.kind' needs a string value, got 1"),
            ({1: "x"}, "filter keys must be strings, got 1; keys are "),
        ],
    )
    def test_bad_key_or_value(
        self, registry: Registry, filter: dict[Any, Any], message: str
    ) -> None:
        """The message names the key and says what is expected."""
        with pytest.raises(InvalidFilterError, match="^" + re.escape(message)):
            registry.find(filter)

    def test_filter_must_be_a_mapping(self, registry: Registry) -> None:
        """A list is not a filter."""
        with pytest.raises(
            InvalidFilterError, match=r"^a filter must be a mapping such as .*, got list$"
        ):
            registry.find(["meta.type"])  # type: ignore[arg-type]

    def test_meta_keyword_must_be_a_mapping(self, registry: Registry) -> None:
        """meta= takes a mapping."""
        with pytest.raises(InvalidFilterError, match=r"^meta= must be a mapping, got str$"):
            registry.find(meta="cron.job")  # type: ignore[arg-type]


# Property: find agrees with a naive implementation of the same rules.

_WORDS = st.sampled_from(["a", "b", "ab", "job", "cron.job", "x1"])
_META = st.dictionaries(
    st.sampled_from(["type", "tags", "interval"]),
    _WORDS | st.lists(_WORDS, max_size=3) | st.integers(0, 2),
    max_size=3,
)
_ENTRY = st.builds(
    lambda ns, name, kind, meta: Entry(f"{ns}:{name}", kind, meta=meta),
    st.sampled_from(["app", "app.jobs", "lib"]),
    _WORDS,
    st.sampled_from(["function", "process", "registry.entry"]),
    _META,
)
_KEYS = st.sampled_from(
    [
        "meta.type",
        "meta.tags",
        "~meta.type",
        "*meta.tags",
        "^meta.type",
        "$meta.interval",
        ".kind",
        ".ns",
        ".name",
        ".id",
    ]
)
_VALUES = _WORDS | st.sampled_from(["a*", "*b", "*", "app*", "*o*"])


def _is_regex(value: str) -> bool:
    try:
        re.compile(value)
    except re.error:
        return False
    return True


def naive(entry: Entry, key: str, value: Any) -> bool:
    op = key[0] if key[0] in "~*^$" else ""
    field = key[len(op) :]
    if field.startswith("."):
        actual: Any = getattr(entry, field[1:])
    else:
        actual = entry.meta.get(field[len("meta.") :], KeyError)
        if actual is KeyError:
            return False
    if not op and field.startswith("."):
        return fnmatch.fnmatchcase(actual, value.replace("[", "[[]").replace("?", "[?]"))
    if not op:
        if isinstance(value, list):
            return isinstance(actual, tuple) and set(value) <= set(actual)
        return type(actual) is type(value) and actual == value
    texts = (
        [actual]
        if isinstance(actual, str)
        else [t for t in (actual if isinstance(actual, tuple) else ()) if isinstance(t, str)]
    )
    tests: dict[str, Callable[[str], bool]] = {
        "~": lambda t: re.search(value, t) is not None,
        "*": lambda t: value in t,
        "^": lambda t: t.startswith(value),
        "$": lambda t: t.endswith(value),
    }
    return any(tests[op](t) for t in texts)


class TestFindProperty:
    """Property: find returns what a brute-force filter returns, sorted by id."""

    @given(
        st.lists(_ENTRY, max_size=8, unique_by=lambda e: e.id),
        st.dictionaries(_KEYS, _VALUES | st.lists(_WORDS, max_size=2), max_size=3),
    )
    def test_find_agrees_with_naive_filter(
        self, entries: list[Entry], filter: dict[str, Any]
    ) -> None:
        """Every combination of keys and values selects the same entries."""
        if any(isinstance(value, list) and (key[0] in "~*^$.") for key, value in filter.items()):
            return  # non-string values for string-only keys are errors, tested elsewhere
        registry = Registry.from_entries(entries)
        for key, value in filter.items():
            if key.startswith("~") and not _is_regex(value):
                with pytest.raises(InvalidFilterError):
                    registry.find(filter)
                return
        expected = sorted(
            (e for e in entries if all(naive(e, k, v) for k, v in filter.items())),
            key=lambda e: e.id,
        )
        assert registry.find(filter) == expected
