"""Tests for Registry: get, snapshots, atomic changesets, versions, history and subscribers."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry import (
    Change,
    ChangesetError,
    Entry,
    EntryNotFoundError,
    Registry,
    Revision,
)


def entry(name: str, value: int = 0) -> Entry:
    return Entry(f"app:{name}", "registry.entry", data={"value": value})


class TestGet:
    """get returns an entry by id or raises EntryNotFoundError."""

    def test_get_existing(self) -> None:
        """A created entry is found by id."""
        registry = Registry.from_entries([entry("a")])
        assert registry.get("app:a") == entry("a")
        assert "app:a" in registry
        assert len(registry) == 1

    def test_get_missing(self) -> None:
        """A missing id raises with the id and version in the message."""
        registry = Registry()
        with pytest.raises(
            EntryNotFoundError, match=r"^no entry with id 'app:nope' in the registry at version 0$"
        ):
            registry.get("app:nope")


class TestChangesets:
    """Changesets apply atomically and bump the version by one."""

    def test_apply_returns_the_new_version(self) -> None:
        """Each apply adds exactly one to the version."""
        registry = Registry()
        assert registry.version == 0
        assert registry.changes().create(entry("a")).create(entry("b")).apply() == 1
        assert registry.changes().update(entry("a", 1)).delete("app:b").apply() == 2
        assert registry.version == 2
        assert [e.id for e in registry.find()] == ["app:a"]
        assert registry.get("app:a").data["value"] == 1

    def test_create_existing_fails_and_changes_nothing(self) -> None:
        """Creating an existing id raises and leaves the registry as it was."""
        registry = Registry.from_entries([entry("a")])
        changes = registry.changes().create(entry("b")).create(entry("a", 9))
        with pytest.raises(
            ChangesetError,
            match=r"^changeset not applied: change 2 \(create app:a\): "
            r"an entry with this id already exists$",
        ):
            changes.apply()
        assert registry.version == 1
        assert "app:b" not in registry

    def test_update_and_delete_of_missing_ids_are_all_reported(self) -> None:
        """Every conflict of the changeset is listed, one per line."""
        registry = Registry()
        changes = registry.changes().update(entry("x")).delete("app:y")
        with pytest.raises(ChangesetError) as caught:
            changes.apply()
        assert str(caught.value) == (
            "changeset not applied, 2 conflicts:\n"
            "- change 1 (update app:x): no entry with this id exists\n"
            "- change 2 (delete app:y): no entry with this id exists"
        )
        assert caught.value.problems == (
            "change 1 (update app:x): no entry with this id exists",
            "change 2 (delete app:y): no entry with this id exists",
        )

    def test_operations_see_earlier_ones_in_the_same_changeset(self) -> None:
        """Create then update, and delete then create, of one id work in one changeset."""
        registry = Registry.from_entries([entry("a")])
        registry.changes().create(entry("b")).update(entry("b", 2)).delete("app:a").create(
            entry("a", 3)
        ).apply()
        assert registry.get("app:b").data["value"] == 2
        assert registry.get("app:a").data["value"] == 3

    def test_a_changeset_applies_once(self) -> None:
        """A second apply of the same changeset is refused."""
        registry = Registry()
        changes = registry.changes().create(entry("a"))
        changes.apply()
        with pytest.raises(
            ChangesetError,
            match=r"^changeset not applied: this changeset was already applied; start a new one$",
        ):
            changes.apply()

    def test_delete_accepts_an_entry(self) -> None:
        """delete takes an Entry as well as an id."""
        registry = Registry.from_entries([entry("a")])
        registry.changes().delete(entry("a")).apply()
        assert len(registry) == 0

    def test_create_needs_an_entry(self) -> None:
        """Passing a dict to create is a TypeError at once, not at apply."""
        with pytest.raises(TypeError, match=r"^create\(\) takes an Entry, got dict$"):
            Registry().changes().create({"id": "app:a"})  # type: ignore[arg-type]

    def test_empty_changeset_still_makes_a_version(self) -> None:
        """An empty apply is recorded like any other."""
        registry = Registry()
        assert registry.changes().apply() == 1
        assert registry.history() == [Revision(1, ())]


class TestSnapshotsAndHistory:
    """Snapshots never change, and any past version can be rebuilt."""

    def test_snapshot_is_unaffected_by_later_applies(self) -> None:
        """A snapshot keeps showing its version."""
        registry = Registry.from_entries([entry("a")])
        snapshot = registry.snapshot()
        registry.changes().delete("app:a").create(entry("b")).apply()
        assert snapshot.version == 1
        assert [e.id for e in snapshot] == ["app:a"]
        assert snapshot.get("app:a") == entry("a")
        with pytest.raises(EntryNotFoundError, match=r"at version 1$"):
            snapshot.get("app:b")

    def test_history_records_every_change_with_before_and_after(self) -> None:
        """history lists revisions with Change values in order."""
        registry = Registry()
        registry.changes().create(entry("a")).apply()
        registry.changes().update(entry("a", 1)).apply()
        registry.changes().delete("app:a").apply()
        assert registry.history() == [
            Revision(1, (Change("create", "app:a", entry("a"), None),)),
            Revision(2, (Change("update", "app:a", entry("a", 1), entry("a")),)),
            Revision(3, (Change("delete", "app:a", None, entry("a", 1)),)),
        ]

    def test_snapshot_at_rebuilds_past_versions(self) -> None:
        """snapshot_at(v) shows exactly what the registry held at v."""
        registry = Registry()
        registry.changes().create(entry("a")).apply()
        registry.changes().update(entry("a", 1)).create(entry("b")).apply()
        registry.changes().delete("app:a").apply()
        assert list(registry.snapshot_at(0)) == []
        assert list(registry.snapshot_at(1)) == [entry("a")]
        assert list(registry.snapshot_at(2)) == [entry("a", 1), entry("b")]
        assert registry.snapshot_at(3) is registry.snapshot()

    @pytest.mark.parametrize("version", [-1, 4])
    def test_snapshot_at_unknown_version(self, version: int) -> None:
        """A version outside 0..current is a ValueError."""
        registry = Registry.from_entries([])
        with pytest.raises(
            ValueError,
            match=rf"^version {version} does not exist; the registry is at version 1$",
        ):
            registry.snapshot_at(version)


class TestSubscribe:
    """Subscribers get each applied revision synchronously, and cannot break apply."""

    def test_subscriber_gets_revisions_until_unsubscribed(self) -> None:
        """Each apply calls the subscriber once; after unsubscribe, never again."""
        registry = Registry()
        seen: list[Revision] = []
        unsubscribe = registry.subscribe(seen.append)
        registry.changes().create(entry("a")).apply()
        unsubscribe()
        unsubscribe()
        registry.changes().create(entry("b")).apply()
        assert seen == [Revision(1, (Change("create", "app:a", entry("a"), None),))]

    def test_failing_subscriber_is_logged_and_others_still_run(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An exception in one subscriber does not undo the apply or skip the next one."""
        registry = Registry()
        seen: list[int] = []

        def broken(revision: Revision) -> None:
            raise RuntimeError("boom")

        registry.subscribe(broken)
        registry.subscribe(lambda revision: seen.append(revision.version))
        with caplog.at_level(logging.ERROR, logger="registry"):
            assert registry.changes().create(entry("a")).apply() == 1
        assert seen == [1]
        assert "app:a" in registry
        assert "registry subscriber" in caplog.text
        assert "failed on version 1" in caplog.text

    def test_new_version_is_visible_inside_the_callback(self) -> None:
        """Subscribers run after the apply is committed."""
        registry = Registry()
        seen: list[bool] = []
        registry.subscribe(lambda revision: seen.append("app:a" in registry))
        registry.changes().create(entry("a")).apply()
        assert seen == [True]

    def test_nested_apply_is_delivered_in_version_order(self) -> None:
        """A subscriber that applies does not make others see version 2 before version 1."""
        registry = Registry()
        first: list[int] = []
        second: list[int] = []

        def applier(revision: Revision) -> None:
            first.append(revision.version)
            if revision.version == 1:
                registry.changes().create(entry("b")).apply()

        registry.subscribe(applier)
        registry.subscribe(lambda revision: second.append(revision.version))
        registry.changes().create(entry("a")).apply()
        assert first == [1, 2]
        assert second == [1, 2]


_NAMES = st.sampled_from(["a", "b", "c", "d"])
_OPS = st.lists(
    st.tuples(st.sampled_from(["create", "update", "delete"]), _NAMES, st.integers(0, 3)),
    max_size=6,
)


class TestAtomicity:
    """Property: a changeset either applies completely or leaves no trace."""

    @given(st.lists(_OPS, max_size=6))
    def test_changesets_never_half_apply(
        self, changesets: list[list[tuple[str, str, int]]]
    ) -> None:
        """Compare the registry with a dict model after each (possibly failing) changeset."""
        registry = Registry()
        model: dict[str, Entry] = {}
        for ops in changesets:
            changes = registry.changes()
            trial = dict(model)
            ok = True
            for op, name, value in ops:
                item = entry(name, value)
                if op == "create":
                    changes.create(item)
                    ok = ok and item.id not in trial
                    trial[item.id] = item
                elif op == "update":
                    changes.update(item)
                    ok = ok and item.id in trial
                    trial[item.id] = item
                else:
                    changes.delete(item.id)
                    ok = ok and item.id in trial
                    trial.pop(item.id, None)
            version = registry.version
            if ok:
                assert changes.apply() == version + 1
                model = trial
            else:
                with pytest.raises(ChangesetError):
                    changes.apply()
                assert registry.version == version
            assert {e.id: e for e in registry.find()} == model
            assert registry.snapshot_at(registry.version).entries() == tuple(
                model[key] for key in sorted(model)
            )
        for revision in registry.history():
            rebuilt = registry.snapshot_at(revision.version)
            assert rebuilt.version == revision.version
