"""The topic patterns a process listens to (``proc.listen``), each with its own queue."""

from __future__ import annotations

import fnmatch
import re
from typing import final

from ._mailbox import MessageQueue
from ._messages import Message


@final
class Listeners:
    """The topic patterns a process listens to, each with its own queue."""

    __slots__ = ("_exact", "_globs")

    def __init__(self) -> None:
        self._exact: dict[str, MessageQueue[Message]] = {}
        self._globs: list[tuple[str, re.Pattern[str], MessageQueue[Message]]] = []

    def add(self, pattern: str, queue: MessageQueue[Message]) -> None:
        if any(ch in pattern for ch in "*?["):
            self._globs.append((pattern, re.compile(fnmatch.translate(pattern)), queue))
        else:
            self._exact[pattern] = queue

    def get(self, pattern: str) -> MessageQueue[Message] | None:
        if pattern in self._exact:
            return self._exact[pattern]
        for glob, _, queue in self._globs:
            if glob == pattern:
                return queue
        return None

    def remove(self, pattern: str) -> MessageQueue[Message] | None:
        queue = self._exact.pop(pattern, None)
        if queue is not None:
            return queue
        for i, (glob, _, q) in enumerate(self._globs):
            if glob == pattern:
                del self._globs[i]
                return q
        return None

    def match(self, topic: str) -> MessageQueue[Message] | None:
        """Return the queue for ``topic``: exact patterns first, then globs in listen order."""
        queue = self._exact.get(topic)
        if queue is not None:
            return queue
        for _, regex, q in self._globs:
            if regex.match(topic):
                return q
        return None

    def queues(self) -> list[MessageQueue[Message]]:
        return [*self._exact.values(), *(q for _, _, q in self._globs)]

    def __bool__(self) -> bool:
        return bool(self._exact) or bool(self._globs)
