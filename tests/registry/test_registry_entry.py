"""Tests for Entry, FrozenMap, freeze/thaw and the private duration parser."""

from __future__ import annotations

import copy
import math
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors import parse_duration as _parse_duration
from registry import Entry, FrozenMap, InvalidEntryError, freeze, thaw


class TestEntry:
    """Entries are frozen values with validated ids and kinds and read-only maps."""

    def test_ns_and_name_split_at_the_colon(self) -> None:
        """The namespace may be dotted and the name may contain dots."""
        entry = Entry("app.jobs:job.heartbeat", "function")
        assert (entry.ns, entry.name) == ("app.jobs", "job.heartbeat")

    @pytest.mark.parametrize(
        "bad", ["app", "app:", ":x", "a:b:c", "app :x", "app:x y", "app..x:y", "", 42]
    )
    def test_invalid_ids_are_refused(self, bad: object) -> None:
        """Anything but 'namespace:name' raises InvalidEntryError naming the id."""
        with pytest.raises(InvalidEntryError, match=r"^invalid entry id .*: expected"):
            Entry(bad, "function")  # type: ignore[arg-type]

    def test_invalid_kind_is_refused(self) -> None:
        """A kind must be dot-separated words."""
        with pytest.raises(InvalidEntryError, match=r"^invalid entry kind 'a b': expected"):
            Entry("app:x", "a b")

    def test_meta_and_data_are_deeply_read_only(self) -> None:
        """Nested dicts become FrozenMaps and lists become tuples; nothing can be assigned."""
        entry = Entry("app:x", "registry.entry", meta={"tags": ["a"]}, data={"n": {"m": [1]}})
        assert entry.meta["tags"] == ("a",)
        assert isinstance(entry.data["n"], FrozenMap)
        with pytest.raises(TypeError):
            entry.data["n"]["m"] = 2  # type: ignore[index]
        with pytest.raises(AttributeError):
            entry.kind = "other"  # type: ignore[misc]

    def test_entries_are_hashable_and_compare_by_value(self) -> None:
        """Two entries with the same fields are equal; origin does not take part."""
        a = Entry("app:x", "k", meta={"a": [1]}, origin="/one/_index.yaml")
        b = Entry("app:x", "k", meta={"a": (1,)}, origin="/two/_index.yaml")
        assert a == b
        assert hash(a) == hash(b)
        assert len({a, b}) == 1

    def test_mapping_keys_must_be_strings(self) -> None:
        """A non-string key anywhere is an InvalidEntryError."""
        with pytest.raises(InvalidEntryError, match=r"^mapping keys must be strings, got 1$"):
            Entry("app:x", "k", data={"a": {1: "x"}})


class TestFreeze:
    """freeze and thaw convert between plain and read-only containers."""

    @given(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(),
            lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
        )
    )
    def test_thaw_inverts_freeze(self, value: object) -> None:
        """thaw(freeze(x)) == x for JSON-like values."""
        assert thaw(freeze(value)) == value

    def test_frozen_map_equals_a_dict(self) -> None:
        """A FrozenMap compares equal to a dict with the same items."""
        assert FrozenMap({"a": 1}) == {"a": 1}
        assert repr(FrozenMap({"a": 1})) == "FrozenMap({'a': 1})"


class TestParseDuration:
    """The private Go-style duration parser (to be replaced by actors.parse_duration)."""

    @pytest.mark.parametrize(
        ("text", "seconds"),
        [
            ("500ms", 0.5),
            ("1h30m", 5400.0),
            ("1.5s", 1.5),
            ("2us", 2e-6),
            ("3ns", 3e-9),
            ("1m1s", 61.0),
            ("-2s", -2.0),
            ("0", 0.0),
            (10, 10.0),
            (0.25, 0.25),
        ],
    )
    def test_valid(self, text: object, seconds: float) -> None:
        """Go syntax and plain numbers of seconds parse."""
        assert math.isclose(_parse_duration(text), seconds)

    @pytest.mark.parametrize("text", ["", "10", "10 s", "1d", "s", "1.2.3s", True, None, "-"])
    def test_invalid(self, text: object) -> None:
        """Everything else raises ValueError naming the value."""
        with pytest.raises(ValueError, match=rf"^invalid duration {text!r}"):
            _parse_duration(text)


class TestCopying:
    """Entries survive pickling and deep copies (payloads may cross processes later)."""

    def test_pickle_and_deepcopy(self) -> None:
        """Equality and hash are kept."""
        entry = Entry("app:x", "k", meta={"tags": ["a"]}, data={"n": {"m": 1}})
        for clone in (pickle.loads(pickle.dumps(entry)), copy.deepcopy(entry)):
            assert clone == entry
            assert hash(clone) == hash(entry)
