"""The event bus: best-effort publish/subscribe by system, kind and path, on process groups.

A subscription is a glob pattern for each of system, kind and path plus the topic its messages
arrive on; each distinct (pattern, topic) is one process group, so a subscriber that exits
leaves it with no bus code on the exit path. ``publish`` finds the matching groups (a cache per
(system, kind, path), cleared when the set of patterns changes) and puts one message in each
member's mailbox, synchronously: it never waits, and a full mailbox is the subscriber's
problem (its policy decides; ``overflow="raise"`` refusals are counted here).
"""

from __future__ import annotations

import re
from fnmatch import translate
from typing import TYPE_CHECKING, Any, final

import attrs
import trio

from .._core._exceptions import MailboxFull
from .._core._messages import Message
from ._groups import table_of
from ._state import node_of, process_of, state_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._core._node import Node
    from .._core._pid import PID
    from .._core._process import Process

MAX_PART = 80
"""The longest system, kind or path pattern (characters)."""
MAX_VALUE = 255
"""The longest system, kind or path a published event may have (characters)."""
_CACHE_SIZE = 1024


@attrs.frozen
class BusEvent:
    """The payload of a bus message: what was published, by whom, and when."""

    system: str
    """The publishing subsystem, e.g. ``"users"``."""
    kind: str
    """What happened, e.g. ``"created"``."""
    path: str
    """What it happened to, e.g. ``"/users/42"``."""
    data: Any
    """The published value, passed by reference (publish immutable values)."""
    sender: PID | None = None
    """The publishing process (None from plain trio code)."""
    at: float = 0.0
    """``trio.current_time()`` of the publish."""


@attrs.frozen
class BusStatistics:
    """What ``bus(...).statistics()`` reports."""

    subscriptions: int
    """(subscriber, pattern, topic) triples."""
    patterns: int
    """Distinct (pattern, topic) pairs."""
    published: int
    """Events published since the node opened."""
    delivered: int
    """Messages put in subscribers' mailboxes (a drop_* mailbox may still drop them)."""
    dropped: int
    """Messages refused by a full ``overflow="raise"`` mailbox."""


def _matcher(pattern: str) -> Callable[[str], bool]:
    if pattern == "*":
        return lambda _: True
    if not any(c in pattern for c in "*?["):
        return pattern.__eq__
    match = re.compile(translate(pattern)).match
    return lambda value: match(value) is not None


class _Pattern:
    __slots__ = ("_kind", "_path", "_system", "group", "key", "topic")

    def __init__(self, key: tuple[str, str, str], topic: str, group: str) -> None:
        self.key = key
        self.topic = topic
        self.group = group
        self._system, self._kind, self._path = (_matcher(part) for part in key)

    def matches(self, system: str, kind: str, path: str) -> bool:
        return self._system(system) and self._kind(kind) and self._path(path)


class Bus:
    """A node's bus: the patterns subscribed to, the match cache and the counters."""

    __slots__ = ("_cache", "_patterns", "_table", "delivered", "dropped", "published")

    def __init__(self, node: Node) -> None:
        self._table = table_of(node)
        self._patterns: dict[str, _Pattern] = {}
        self._cache: dict[tuple[str, str, str], list[_Pattern]] = {}
        self.published = 0
        self.delivered = 0
        self.dropped = 0

    def subscribe(self, key: tuple[str, str, str], topic: str, proc: Process) -> bool:
        group = "bus\x1f" + "\x1f".join(key) + "\x1f" + topic
        if group not in self._patterns:
            self._patterns[group] = _Pattern(key, topic, group)
            self._cache.clear()
        return self._table.join(group, proc)

    def unsubscribe(self, key: tuple[str, str, str], topic: str, proc: Process) -> bool:
        group = "bus\x1f" + "\x1f".join(key) + "\x1f" + topic
        return group in self._patterns and self._table.leave(group, proc)

    def _matching(self, system: str, kind: str, path: str) -> list[_Pattern]:
        key = (system, kind, path)
        found = self._cache.get(key)
        if found is None:
            members = self._table._members
            for group in [g for g in self._patterns if g not in members]:
                del self._patterns[group]  # its last subscriber left or exited
                self._cache.clear()
            found = [p for p in self._patterns.values() if p.matches(system, kind, path)]
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = found
        return found

    def publish(self, event: BusEvent) -> int:
        self.published += 1
        members = self._table._members
        sent = 0
        sender = event.sender
        for pattern in self._matching(event.system, event.kind, event.path):
            group = members.get(pattern.group)
            if group is None:
                continue
            message = Message(pattern.topic, event, sender)
            for proc in tuple(group):
                try:
                    proc._deliver(message)
                except MailboxFull:
                    self.dropped += 1
                else:
                    sent += 1
        self.delivered += sent
        return sent

    def statistics(self) -> BusStatistics:
        members = self._table._members
        return BusStatistics(
            subscriptions=sum(len(members.get(g, ())) for g in self._patterns),
            patterns=sum(1 for g in self._patterns if g in members),
            published=self.published,
            delivered=self.delivered,
            dropped=self.dropped,
        )


def _bus_of(node: Node) -> Bus:
    state = state_of(node)
    bus: Bus | None = state.bus
    if bus is None:
        bus = state.bus = Bus(node)
    return bus


def _check(name: str, value: object, limit: int) -> str:
    if type(value) is not str or not value or len(value) > limit:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:60] + "..."
        raise ValueError(
            f"bus {name} must be a non-empty string of at most {limit} characters, got {shown}"
        )
    return value


@final
class EventBus:
    """A node's event bus, seen from a process (subscriptions are its own) or from a node.

    Get it with :func:`actors.bus`. Delivery is best-effort and ordinary: each matching
    subscription gets one message on its topic whose payload is a :class:`BusEvent`.

    Args:
        node (Node): The node whose bus this is.
        me (Process | None): The process it acts as (the sender of what it publishes, the
            default subscriber); None when taken from a node.
    """

    __slots__ = ("_bus", "_me", "_node")

    def __init__(self, node: Node, me: Process | None) -> None:
        self._node = node
        self._bus = _bus_of(node)
        self._me = me

    def __repr__(self) -> str:
        return f"<EventBus of {self._node!r}>"

    def publish(self, system: str, kind: str, path: str, data: object = None) -> int:
        """Put a ``BusEvent`` in the mailbox of every matching subscriber; never blocks.

        Args:
            system (str): The publishing subsystem, e.g. ``"users"``.
            kind (str): What happened, e.g. ``"created"``.
            path (str): What it happened to, e.g. ``"/users/42"``.
            data (object): The value, passed by reference (publish immutable values).

        Returns:
            int: How many messages were delivered (refusals by full mailboxes not counted).

        Raises:
            ValueError: If ``system``, ``kind`` or ``path`` is empty, not a string or longer
                than 255 characters.
        """
        event = BusEvent(
            _check("system", system, MAX_VALUE),
            _check("kind", kind, MAX_VALUE),
            _check("path", path, MAX_VALUE),
            data,
            None if self._me is None else self._me.pid,
            trio.current_time(),
        )
        return self._bus.publish(event)

    def subscribe(
        self,
        system: str = "*",
        kind: str = "*",
        path: str = "*",
        *,
        topic: str = "event",
        pid: PID | str | None = None,
    ) -> bool:
        """Deliver events whose system, kind and path match these globs as messages on ``topic``.

        Globs are :mod:`fnmatch` patterns (``*`` also matches ``/``). A process subscribed with
        overlapping patterns gets one message per matching subscription. The subscription
        ends with ``unsubscribe`` or when the subscriber exits. Return False if it existed.

        Args:
            system (str): Glob for the event's system; ``"*"`` matches all.
            kind (str): Glob for the event's kind.
            path (str): Glob for the event's path.
            topic (str): The topic of the messages delivered (not starting with ``@``).
            pid (PID | str | None): The subscriber, a PID or registered name on this node;
                None for the process this bus was taken from.

        Returns:
            bool: True if the subscription is new, False if it existed.

        Raises:
            ValueError: If a pattern is empty, not a string or longer than 80 characters,
                ``topic`` is not a valid topic, or ``pid`` is on another node.
            TypeError: If ``pid`` is None and this bus was taken from a node.
            ProcessNotFound: If ``pid`` names no live process.
        """
        return self._bus.subscribe(_key(system, kind, path), _check_topic(topic), self._proc(pid))

    def unsubscribe(
        self,
        system: str = "*",
        kind: str = "*",
        path: str = "*",
        *,
        topic: str = "event",
        pid: PID | str | None = None,
    ) -> bool:
        """End the subscription with these patterns and topic; False if there was none.

        Args:
            system (str): The system glob it was made with.
            kind (str): The kind glob it was made with.
            path (str): The path glob it was made with.
            topic (str): The topic it was made with.
            pid (PID | str | None): The subscriber; None for the process this bus was taken
                from.

        Raises:
            ValueError: As for :meth:`subscribe`.
            TypeError: If ``pid`` is None and this bus was taken from a node.
            ProcessNotFound: If ``pid`` names no live process.
        """
        return self._bus.unsubscribe(_key(system, kind, path), _check_topic(topic), self._proc(pid))

    def statistics(self) -> BusStatistics:
        """Subscriptions, patterns and the publish counters of this node's bus."""
        return self._bus.statistics()

    def _proc(self, pid: PID | str | None) -> Process:
        if pid is None:
            if self._me is None:
                raise TypeError("a pid is needed: this bus was taken from a node")
            return self._me
        proc = self._node._resolve(pid)
        if proc._is_remote:
            raise ValueError(f"the event bus is local to a node: {pid} is on another node")
        return proc


def _key(system: str, kind: str, path: str) -> tuple[str, str, str]:
    return (
        _check("system", system, MAX_PART),
        _check("kind", kind, MAX_PART),
        _check("path", path, MAX_PART),
    )


def _check_topic(topic: object) -> str:
    if type(topic) is not str or not topic or topic.startswith("@") or len(topic) > MAX_PART:
        raise ValueError(
            f"topic must be a non-empty string of at most {MAX_PART} characters"
            f" not starting with '@', got {topic!r}"
        )
    return topic


def bus(where: Process | Node | None = None) -> EventBus:
    """The event bus of a node: ``bus(proc)`` publishes and subscribes as ``proc``.

    Args:
        where (Process | Node | None): A process handle, a node (events published from it
            have no sender), or None for the current node.

    Raises:
        TypeError: If ``where`` is not a process handle, a node or None.
        RuntimeError: If ``where`` is None outside a running node.
    """
    node = node_of(where)
    return EventBus(node, process_of(where))
