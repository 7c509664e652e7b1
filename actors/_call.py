"""Request/reply: the one-shot reply slot behind ``call`` and ``reply``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, final

from outcome import Error, Outcome, Value
from trio.lowlevel import Abort, RaiseCancelT, Task, current_task, reschedule, wait_task_rescheduled

from ._exceptions import CallFailed

if TYPE_CHECKING:
    from ._messages import Exit
    from ._pid import PID


@final
class ReplySlot:
    """Where a reply to one ``call`` goes; carried in ``Message.reply_to``.

    The slot accepts one outcome. Once the caller has stopped waiting (reply,
    timeout, cancellation or target exit) the slot is closed and a late reply
    is discarded, so nothing leaks into the caller's mailbox.
    """

    __slots__ = ("_closed", "_outcome", "_task", "target", "topic")

    def __init__(self, target: PID, topic: str) -> None:
        self.target = target
        self.topic = topic
        self._task: Task | None = None
        self._outcome: Outcome[Any] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"<ReplySlot call to {self.target} on {self.topic!r}>"

    @property
    def closed(self) -> bool:
        """Whether the caller is no longer waiting for this reply."""
        return self._closed or self._outcome is not None

    def set(self, result: Outcome[Any]) -> bool:
        """Deliver the reply; return False if the caller is gone or already answered."""
        if self._closed or self._outcome is not None:
            return False
        self._outcome = result
        task = self._task
        if task is not None:
            self._task = None
            reschedule(task, result)
        return True

    def target_exited(self, exit: Exit) -> None:
        """Exit hook: fail the call because the target ended without replying."""
        error = CallFailed(
            self.target, self.topic, f"target exited ({exit.reason.value}) before replying"
        )
        error.__cause__ = exit.error
        self.set(Error(error))

    async def wait(self) -> Any:
        """Park until the reply (or failure) arrives."""
        if self._outcome is not None:
            return self._outcome.unwrap()
        self._task = current_task()
        return await wait_task_rescheduled(self._abort)

    def _abort(self, _: RaiseCancelT) -> Abort:
        self._task = None
        return Abort.SUCCEEDED

    def close(self) -> None:
        """Stop accepting replies (the caller gave up)."""
        self._closed = True


def reply_value(slot: ReplySlot, value: object) -> bool:
    return slot.set(Value(value))


def reply_error(slot: ReplySlot, error: BaseException) -> bool:
    failure = CallFailed(slot.target, slot.topic, f"handler raised {error!r}")
    failure.__cause__ = error
    return slot.set(Error(failure))
