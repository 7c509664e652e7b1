"""The small, flat set of errors the runtime raises.

Each docstring says when the error is raised and how it differs from its
siblings. Messages are built in ``__init__`` so every raise site reads the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._pid import PID


class ProcessNotFound(LookupError):
    """The target PID or name does not name a live process.

    Raised at once by ``send``, ``cancel``, ``call``, ``terminate`` and friends
    when the PID never existed, has already exited, or the name is not
    registered. A send never fails later: if this is not raised, the message is
    in the target's mailbox.
    """

    def __init__(self, target: object) -> None:
        super().__init__(f"no such process: {target}")
        self.target = target


class NoProc(ProcessNotFound):
    """The ``Exit``/``LinkDown`` error for a monitor or link made on a dead PID.

    Unlike :class:`ProcessNotFound` this is never raised by the runtime: it is
    the ``error`` field of the event delivered at once (Erlang's ``noproc``).
    """


class NameTaken(ValueError):
    """``register(name, pid)`` was called for a name another live PID holds."""

    def __init__(self, name: str, holder: PID) -> None:
        super().__init__(f"name {name!r} is already registered to {holder}")
        self.name = name
        self.holder = holder


class CallTimeout(TimeoutError):
    """``call`` got no reply within its timeout; a late reply is discarded."""

    def __init__(self, target: object, topic: str, timeout: float) -> None:
        super().__init__(f"call to {target} on {topic!r} got no reply within {timeout:g}s")
        self.target = target
        self.topic = topic
        self.timeout = timeout


class CallFailed(RuntimeError):
    """The target of a ``call`` exited (or replied with an error) instead of replying.

    ``__cause__`` is the target's exit error, or the error it replied with.
    """

    def __init__(self, target: object, topic: str, why: str) -> None:
        super().__init__(f"call to {target} on {topic!r} failed: {why}")
        self.target = target
        self.topic = topic


class Terminated(Exception):
    """The ``Exit.error`` of a process stopped by force (``terminate`` or node shutdown).

    It is a value, not something user code catches: the process is interrupted
    wherever it waits and never resumes.
    """

    def __init__(self, why: str = "terminated") -> None:
        super().__init__(why)


class LinkedProcessFailed(Exception):
    """The exit error of a process that received an untrapped ``LinkDown``.

    ``__cause__`` is the failed partner's error; cascades along links.
    """

    def __init__(self, pid: PID, error: BaseException | None) -> None:
        super().__init__(f"linked process {pid} failed: {error!r}")
        self.pid = pid
        self.error = error


class MailboxFull(RuntimeError):
    """A bounded mailbox with the ``raise`` overflow policy refused a message.

    Raised to the sender. With ``drop_newest``/``drop_oldest`` nothing is
    raised; the drop is counted in ``statistics().dropped`` and logged.
    """

    def __init__(self, target: object, limit: int) -> None:
        super().__init__(f"mailbox of {target} is full ({limit} messages)")
        self.target = target
        self.limit = limit


class HostLimitReached(RuntimeError):
    """``spawn`` on a host that already runs its ``max_processes``."""

    def __init__(self, host: str, limit: int) -> None:
        super().__init__(f"host {host!r} is at its process limit ({limit})")
        self.host = host
        self.limit = limit
