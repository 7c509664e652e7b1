"""Deliver registry changes to a process as messages: ``unwatch = watch(registry, proc)``.

Each applied changeset becomes one message on topic ``registry.changed`` whose payload is a
frozen :class:`RegistryChanged` (the new version and the changes that pass the filter). A
process waits for it like any message: ``proc.inbox``, or ``proc.listen("registry.changed")``
to keep the changes apart from other mail, and ``select`` with its other sources.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, final

import attrs

from actors import Process, ProcessNotFound

from ._find import compile_filter
from ._registry import Change, Registry, Revision

WATCH_TOPIC = "registry.changed"
"""The topic of the messages :func:`watch` sends."""


@final
@attrs.frozen
class RegistryChanged:
    """The payload of a ``registry.changed`` message: one applied changeset, filtered."""

    version: int
    """The registry version after the changeset."""
    changes: tuple[Change, ...]
    """The changes that concern the watcher, in changeset order (never empty)."""


def watch(
    registry: Registry,
    proc: Process,
    filter: Mapping[str, Any] | None = None,
    *,
    topic: str = WATCH_TOPIC,
    **conditions: Any,
) -> Callable[[], None]:
    """Send ``proc`` a ``RegistryChanged`` message after every apply that concerns it.

    With a filter (the :meth:`Registry.find` syntax, mapping and keywords), a change concerns
    the watcher when the entry after it *or* before it matches: a job whose ``meta.type`` is
    removed by an update is still reported, so the watcher can stop it. A changeset with no
    such change sends nothing. The watch ends when the process exits, or when the returned
    function is called (any number of times).

    Messages are sent synchronously by whoever applies the changeset, so they arrive in version
    order, after the new version is visible to ``registry.get``/``find``.

    Args:
        registry (Registry): The live registry to watch.
        proc (Process): The process that receives the messages (``sender`` is None).
        filter (Mapping[str, Any] | None): Which entries matter, e.g.
            ``{"meta.type": "cron.job"}``; None: all.
        topic (str): The message topic, ``registry.changed`` by default.
        **conditions (Any): Keyword conditions as in ``find`` (``kind``, ``ns``, ``name``,
            ``id``, ``meta``).

    Returns:
        Callable[[], None]: Stops the watch.

    Raises:
        InvalidFilterError: If the filter is malformed (checked now, not on the first change).
        TypeError: If a keyword condition is not one of ``find``'s.

    Example::

        unwatch = registry.watch(app.registry, proc, kind="function", meta={"type": "cron.job"})
        msg = await proc.inbox.receive()   # msg.topic == "registry.changed"
        for change in msg.payload.changes: ...
    """
    matches = compile_filter(filter, **conditions) if filter is not None or conditions else None
    node = proc.node
    pid = proc.pid

    def concerns(change: Change) -> bool:
        assert matches is not None
        return any(e is not None and matches(e) for e in (change.entry, change.previous))

    def deliver(revision: Revision) -> None:
        changes = (
            revision.changes
            if matches is None
            else tuple(change for change in revision.changes if concerns(change))
        )
        if not changes:
            return
        try:
            node.send(pid, topic, RegistryChanged(revision.version, changes))
        except ProcessNotFound:  # exited; on_exit has unsubscribed or is about to
            unsubscribe()

    unsubscribe = registry.subscribe(deliver)
    proc.on_exit(unsubscribe)
    return unsubscribe
