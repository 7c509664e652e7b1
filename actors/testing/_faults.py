"""Fault injection for tests: crash a process, drop or delay its messages, stub processes.

Dropping and delaying work on one target process: its deliveries go through a rule table first
(the process's class is swapped for a subclass whose ``_deliver`` consults the table), so the
kernel's hot path is untouched and processes without rules pay nothing.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from typing import Any, Literal, final

import attrs
import trio

from .._core import _lifecycle
from .._core._messages import ExitReason, Message
from .._core._node import Node
from .._core._pid import PID
from .._core._process import Process
from ._probe import _forget

_RULES: dict[Process, list[FaultRule]] = {}


@final
@attrs.define(eq=False)
class FaultRule:
    """One drop or delay rule on one process; remove it with ``remove()``.

    Args:
        proc (Process | None): The process the rule is installed on (``TestNode.drop`` and
            ``TestNode.delay`` set it).
        nursery (trio.Nursery | None): Where delayed deliveries wait (the test node's).

    Attributes:
        hits (int): Messages it dropped or delayed so far.
    """

    pid: PID
    """The process whose incoming messages it applies to."""
    topic: str
    """An exact topic or a glob."""
    action: Literal["drop", "delay"]
    """``drop``: the message is lost; ``delay``: it is delivered ``seconds`` later."""
    seconds: float = 0.0
    """The delay (``delay`` only)."""
    limit: int | None = None
    """Apply to this many messages, then pass the rest (None: all)."""
    hits: int = 0
    _proc: Process | None = None
    _nursery: trio.Nursery | None = None

    def matches(self, topic: str) -> bool:
        """Whether this rule applies to a message on ``topic`` now.

        Args:
            topic: The topic of a message on its way to ``pid``.
        """
        if self.limit is not None and self.hits >= self.limit:
            return False
        return topic == self.topic or fnmatch.fnmatchcase(topic, self.topic)

    def remove(self) -> None:
        """Stop applying this rule (delayed messages already held are still delivered)."""
        if self._proc is not None:
            rules = _RULES.get(self._proc, [])
            if self in rules:
                rules.remove(self)


class _Faulty(Process):  # type: ignore[misc]  # Process is final for users, not for the kit
    __slots__ = ()

    def _deliver(self, message: Message) -> None:
        for rule in _RULES.get(self, ()):
            if rule.matches(message.topic):
                rule.hits += 1
                if rule.action == "delay" and rule._nursery is not None:
                    rule._nursery.start_soon(_redeliver, self, message, rule.seconds)
                return
        Process._deliver(self, message)


async def _redeliver(proc: Process, message: Message, seconds: float) -> None:
    await trio.sleep(seconds)
    if _lifecycle._alive(proc):
        Process._deliver(proc, message)


def add_rule(node: Node, nursery: trio.Nursery, rule: FaultRule) -> FaultRule:
    """Install ``rule`` on its process.

    Raises:
        ProcessNotFound: If the process is not alive.
        ValueError: If ``seconds`` is negative or ``limit`` is below 1.
    """
    if rule.seconds < 0:
        raise ValueError(f"delay must be >= 0 seconds, got {rule.seconds!r}")
    if rule.limit is not None and rule.limit < 1:
        raise ValueError(f"limit must be >= 1 or None, got {rule.limit!r}")
    proc = node._resolve(rule.pid)
    rule._proc = proc
    rule._nursery = nursery
    if proc not in _RULES:
        _RULES[proc] = []
        proc.on_exit(lambda: _forget(_RULES, proc))
        proc.__class__ = _Faulty
    _RULES[proc].append(rule)
    return rule


def crash(node: Node, dest: PID | str, error: BaseException | None = None) -> None:
    """Make ``dest`` exit at once with ``error`` (reason ``error``), wherever it waits.

    Links and monitors see it as a crash of that process (default error:
    ``RuntimeError("injected crash")``).
    """
    proc = node._resolve(dest)
    _lifecycle.kill(proc, error or RuntimeError("injected crash"), ExitReason.ERROR)


Answer = object | BaseException | Callable[[Any], Any]
"""A stub's answer: a value, an exception to fail the call with, or ``fn(payload)``."""


@final
class Stub:
    """A process that records every message it gets and answers calls from a table.

    ``answers`` maps a topic to a value, an exception (the caller gets ``CallFailed``), or a
    function of the payload. A call on a topic missing from the table fails with ``LookupError``.
    Plain sends are recorded only.

    Args:
        node: The node to spawn the stub on.
        answers: Topic to answer: a value, an exception, or a function of the payload.
        name: Register the stub under this name.

    Attributes:
        pid (PID): The stub's process.
        calls (list[Message]): Every message received, in order.
    """

    def __init__(self, node: Node, answers: Mapping[str, Answer], *, name: str | None = None):
        self.answers: dict[str, Answer] = dict(answers)
        self.calls: list[Message] = []
        self.pid = node.spawn(self._main, name=name)

    def __repr__(self) -> str:
        return f"<Stub {self.pid} calls={len(self.calls)}>"

    def topics(self) -> list[str]:
        """The topics received, in order."""
        return [message.topic for message in self.calls]

    def payloads(self, topic: str) -> list[Any]:
        """The payloads received on ``topic``, in order.

        Args:
            topic: An exact topic.
        """
        return [message.payload for message in self.calls if message.topic == topic]

    async def _main(self, proc: Process) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_until_cancel, proc, nursery.cancel_scope)
            async for message in proc.inbox:
                self.calls.append(message)
                if message.reply_to is not None:
                    self._answer(proc, message)

    def _answer(self, proc: Process, message: Message) -> None:
        if message.topic not in self.answers:
            known = ", ".join(sorted(self.answers)) or "none"
            proc.reply_error(
                message, LookupError(f"stub has no answer for {message.topic!r} (has: {known})")
            )
            return
        answer = self.answers[message.topic]
        if isinstance(answer, BaseException):
            proc.reply_error(message, answer)
        elif callable(answer):
            try:
                value = answer(message.payload)
            except Exception as error:
                proc.reply_error(message, error)
            else:
                proc.reply(message, value)
        else:
            proc.reply(message, answer)


async def _until_cancel(proc: Process, scope: trio.CancelScope) -> None:
    await proc.events.receive()
    scope.cancel()
