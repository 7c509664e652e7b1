"""What a supervisor restarts and reports: restart types, strategies, escalation, child info."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, TypeVar

import attrs

from .._core._messages import ExitReason

if TYPE_CHECKING:
    from .._core._pid import PID

E = TypeVar("E", bound=enum.Enum)


class Restart(enum.Enum):
    """When a supervised child that ended is started again."""

    PERMANENT = "permanent"
    """Always, however it ended."""
    TRANSIENT = "transient"
    """Only when it failed (exit reason ``error``, or ``noconnection``: its node was lost)."""
    TEMPORARY = "temporary"
    """Never."""

    def wanted(self, reason: ExitReason) -> bool:
        """Whether a child that ended with ``reason`` should be restarted."""
        if self is Restart.PERMANENT:
            return True
        return self is Restart.TRANSIENT and reason in _FAILURES


_FAILURES = frozenset({ExitReason.ERROR, ExitReason.NOCONNECTION})
"""The exit reasons a ``transient`` child is restarted after (as in OTP, anything but
normal and shutdown: a lost node is a failure the supervisor must not take for a stop)."""


class Strategy(enum.Enum):
    """Which children a supervisor restarts when one of them ends."""

    ONE_FOR_ONE = "one_for_one"
    """Only the child that ended."""
    ONE_FOR_ALL = "one_for_all"
    """Every child: the others are stopped and all restart together."""
    REST_FOR_ONE = "rest_for_one"
    """The child that ended and every child started after it."""


class SupervisorEscalation(RuntimeError):
    """The exit error of a supervisor that gave up: restart intensity or ``max_attempts``.

    Its parent supervisor sees an ``error`` exit and applies its own strategy.

    Args:
        child: The id of the child whose failures made it give up; kept as ``child``.
        why: What was exceeded (the restart intensity, or the child's ``max_attempts``), for the
            message.
    """

    def __init__(self, child: str, why: str) -> None:
        super().__init__(f"supervisor gave up on child {child!r}: {why}")
        self.child = child


def _choice(kind: type[E], value: object, name: str) -> E:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(repr(k.value) for k in kind)
        raise ValueError(f"{name} must be one of {choices}, got {value!r}") from None


def to_restart(value: Restart | str) -> Restart:
    """Convert ``"permanent"`` etc. to ``Restart``, naming the field on error."""
    return _choice(Restart, value, "restart")


def to_strategy(value: Strategy | str) -> Strategy:
    return _choice(Strategy, value, "strategy")


@attrs.frozen
class ChildInfo:
    """One child as ``which_children`` reports it."""

    id: str
    """The child's id from its ``ChildSpec``."""
    pid: PID | None
    """The live incarnation, or None."""
    status: str
    """``running``, ``restarting`` (waiting out its backoff) or ``stopped``."""
    restart: Restart
    """Its restart policy (``permanent``, ``transient`` or ``temporary``)."""
    restarts: int
    """How many times it was started again."""
