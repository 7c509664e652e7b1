"""Tests for registry.watch: registry changes delivered to a process as messages."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio

import actors
import registry
from helpers import idle
from registry import Entry, InvalidFilterError, Registry, RegistryChanged


def job(name: str, interval: str = "1s", type: str = "cron.job") -> Entry:
    return registry.function_entry(
        f"app:{name}", lambda: "ok", meta={"type": type, "interval": interval}
    )


def data(name: str) -> Entry:
    return registry.data_entry(f"app:{name}", {"x": 1})


async def receiver(
    proc: actors.Process, reg: Registry, sink: list[Any], options: dict[str, Any] | None = None
) -> None:
    """Watch ``reg`` and append every message's payload to ``sink`` until cancelled."""
    registry.watch(reg, proc, **(options or {}))
    while True:
        got = await actors.select(proc.events, proc.inbox)
        if isinstance(got.value, actors.Cancel):
            return
        sink.append((got.value.topic, got.value.payload))


class TestWatch:
    """watch sends one message per applied changeset."""

    async def test_every_changeset_is_one_message(self) -> None:
        """Each apply becomes one registry.changed message with the version and changes."""
        reg = Registry()
        sink: list[Any] = []
        async with actors.open_node() as node:
            node.spawn(receiver, reg, sink)
            await trio.sleep(0.1)
            reg.changes().create(data("a")).create(data("b")).apply()
            reg.changes().delete("app:a").apply()
            await trio.sleep(0.1)
        assert [topic for topic, _ in sink] == ["registry.changed"] * 2
        first, second = (payload for _, payload in sink)
        assert isinstance(first, RegistryChanged)
        assert first.version == 1
        assert [(c.op, c.id) for c in first.changes] == [("create", "app:a"), ("create", "app:b")]
        assert second.version == 2
        assert [(c.op, c.id, c.entry) for c in second.changes] == [("delete", "app:a", None)]

    async def test_message_arrives_after_the_version_is_visible(self) -> None:
        """The registry already holds the new version when the process reads the message."""
        reg = Registry()
        seen: list[int] = []

        async def reader(proc: actors.Process) -> None:
            registry.watch(reg, proc)
            msg = await proc.inbox.receive()
            seen.append(reg.version)
            seen.append(msg.payload.version)

        async with actors.open_node() as node:
            node.spawn(reader)
            await trio.sleep(0.1)
            reg.changes().create(data("a")).apply()
        assert seen == [1, 1]

    async def test_payload_is_frozen(self) -> None:
        """The payload cannot be changed by a receiver."""
        reg = Registry()
        sink: list[Any] = []
        async with actors.open_node() as node:
            node.spawn(receiver, reg, sink)
            await trio.sleep(0.1)
            reg.changes().create(data("a")).apply()
            await trio.sleep(0.1)
        payload = sink[0][1]
        with pytest.raises(AttributeError):
            payload.version = 9
        assert isinstance(payload.changes, tuple)
        assert hash(payload) == hash(RegistryChanged(payload.version, payload.changes))

    async def test_custom_topic_and_listen(self) -> None:
        """A custom topic routes the changes to a listen queue, apart from the inbox."""
        reg = Registry()
        got: list[str] = []

        async def reader(proc: actors.Process) -> None:
            changes = proc.listen("config.*")
            registry.watch(reg, proc, topic="config.changed")
            msg = await changes.receive()
            got.append(msg.topic)
            got.append(str(proc.inbox.statistics().queued))

        async with actors.open_node() as node:
            node.spawn(reader)
            await trio.sleep(0.1)
            reg.changes().create(data("a")).apply()
        assert got == ["config.changed", "0"]


class TestFilter:
    """A filter keeps only the changes about matching entries."""

    async def test_only_matching_changes_are_sent(self) -> None:
        """Changes to other entries are left out; a changeset with none sends nothing."""
        reg = Registry()
        sink: list[Any] = []
        async with actors.open_node() as node:
            node.spawn(receiver, reg, sink, {"filter": {"meta.type": "cron.job"}})
            await trio.sleep(0.1)
            reg.changes().create(data("a")).create(job("j1")).apply()
            reg.changes().create(data("b")).apply()
            reg.changes().create(job("other", type="other")).apply()
            reg.changes().update(job("j1", "2s")).apply()
            await trio.sleep(0.1)
        versions = [(p.version, [c.id for c in p.changes]) for _, p in sink]
        assert versions == [(1, ["app:j1"]), (4, ["app:j1"])]

    async def test_keyword_conditions(self) -> None:
        """Keyword conditions work as in find."""
        reg = Registry()
        sink: list[Any] = []
        async with actors.open_node() as node:
            node.spawn(receiver, reg, sink, {"kind": "function", "meta": {"type": "cron.job"}})
            await trio.sleep(0.1)
            reg.changes().create(data("a")).create(job("j1")).apply()
            await trio.sleep(0.1)
        assert [[c.id for c in p.changes] for _, p in sink] == [["app:j1"]]

    async def test_update_out_of_the_filter_and_delete_are_reported(self) -> None:
        """An entry that stops matching, or is deleted, is reported (its previous value matched)."""
        reg = Registry.from_entries([job("j1"), job("j2")])
        sink: list[Any] = []
        async with actors.open_node() as node:
            node.spawn(receiver, reg, sink, {"filter": {"meta.type": "cron.job"}})
            await trio.sleep(0.1)
            reg.changes().update(job("j1", type="disabled")).apply()
            reg.changes().delete("app:j2").apply()
            await trio.sleep(0.1)
        changes = [p.changes[0] for _, p in sink]
        assert [(c.op, c.id) for c in changes] == [("update", "app:j1"), ("delete", "app:j2")]
        assert changes[0].entry is not None and changes[0].entry.meta["type"] == "disabled"
        assert changes[1].previous is not None and changes[1].previous.id == "app:j2"

    async def test_bad_filter_raises_at_once(self) -> None:
        """A malformed filter raises InvalidFilterError from watch itself."""
        reg = Registry()
        errors: list[BaseException] = []

        async def bad(proc: actors.Process) -> None:
            try:
                registry.watch(reg, proc, {"type": "cron.job"})
            except InvalidFilterError as error:
                errors.append(error)

        async with actors.open_node() as node:
            await node.exec(bad)
        assert len(errors) == 1
        assert "did you mean 'meta.type'" in str(errors[0])


class TestEnd:
    """The watch ends on unwatch or when the process exits."""

    async def test_unwatch_stops_delivery(self) -> None:
        """After unwatch no message is sent; calling it twice is harmless."""
        reg = Registry()
        async with actors.open_node() as node:
            pid = node.spawn(idle)
            proc = node._resolve(pid)
            unwatch = registry.watch(reg, proc)
            reg.changes().create(data("a")).apply()
            unwatch()
            unwatch()
            reg.changes().create(data("b")).apply()
            assert node.info(pid).mailbox_depth == 1

    async def test_process_exit_unsubscribes(self, caplog: pytest.LogCaptureFixture) -> None:
        """After the process exits, applies neither fail nor log, and the subscriber is gone."""
        reg = Registry()
        caplog.set_level(logging.DEBUG, logger="registry")
        async with actors.open_node() as node:
            await node.exec(lambda proc: _watch_and_return(reg, proc))
            reg.changes().create(data("a")).apply()
        assert not reg._subscribers
        assert not [r for r in caplog.records if r.name == "registry"]


async def _watch_and_return(reg: Registry, proc: actors.Process) -> None:
    registry.watch(reg, proc)
