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

    Args:
        target: The PID or name that was looked up; kept as ``target``.
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
    """``register(name, pid)`` was called for a name another live PID holds.

    Args:
        name: The name asked for; kept as ``name``.
        holder: The live PID that holds it; kept as ``holder``.
    """

    def __init__(self, name: str, holder: PID) -> None:
        super().__init__(f"name {name!r} is already registered to {holder}")
        self.name = name
        self.holder = holder


class CallTimeout(TimeoutError):
    """``call`` got no reply within its timeout; a late reply is discarded.

    Args:
        target: The PID or name called; kept as ``target``.
        topic: The request's topic; kept as ``topic``.
        timeout: The timeout that passed, in seconds; kept as ``timeout``.
    """

    def __init__(self, target: object, topic: str, timeout: float) -> None:
        super().__init__(f"call to {target} on {topic!r} got no reply within {timeout:g}s")
        self.target = target
        self.topic = topic
        self.timeout = timeout


class CallFailed(RuntimeError):
    """The target of a ``call`` exited (or replied with an error) instead of replying.

    ``__cause__`` is the target's exit error, or the error it replied with.

    Args:
        target: The PID or name called; kept as ``target``.
        topic: The request's topic; kept as ``topic``.
        why: What happened instead of a reply (the exit reason or the error), for the
            message.
    """

    def __init__(self, target: object, topic: str, why: str) -> None:
        super().__init__(f"call to {target} on {topic!r} failed: {why}")
        self.target = target
        self.topic = topic


class Terminated(Exception):
    """The ``Exit.error`` of a process stopped by force (``terminate`` or node shutdown).

    It is a value, not something user code catches: the process is interrupted
    wherever it waits and never resumes.

    Args:
        why: The message (default ``"terminated"``).
    """

    def __init__(self, why: str = "terminated") -> None:
        super().__init__(why)


class Cancelled(BaseException):
    """Raised inside a process that does not trap cancels, where it waits, by a ``Cancel``.

    Only for a process that set ``proc.trap_cancel = False``: each ``Cancel``
    sent to it (``cancel``, a supervisor or service stopping it, node
    shutdown) raises this at its current wait, or at its next one if it is
    running; the ``Cancel`` is also queued on ``proc.events``. Catch it to
    clean up and return; if it escapes the process function, the process ends
    as if it had returned (reason ``shutdown``, no error). A BaseException, as
    ``trio.Cancelled`` is, so ``except Exception`` does not swallow it; it is
    not ``trio.Cancelled`` and never escapes the process.

    Args:
        event: The ``Cancel`` that raised it, or None; its ``reason`` (if any) becomes the
            message, else ``"cancelled"``.
    """

    def __init__(self, event: object = None) -> None:
        super().__init__(getattr(event, "reason", "") or "cancelled")
        self.event = event
        """The ``Cancel`` that raised it (None if it is not known)."""


class LinkedProcessFailed(Exception):
    """The exit error of a process that received an untrapped ``LinkDown``.

    It carries the *original* failure, however many links it crossed (Erlang
    propagates the original exit reason the same way), so its size does not
    grow along a chain: ``error`` and ``__cause__`` are the exception the
    process at ``origin`` ended with, never another ``LinkedProcessFailed``.

    Args:
        pid: The linked partner whose exit arrived as ``LinkDown``.
        error: Its exit error. A ``LinkedProcessFailed`` is unwrapped: the new one keeps
            its ``origin``, ``error`` and ``function`` and counts one more hop.
        function: The qualified name of the failed process's function, if known (ignored
            when ``error`` is itself a ``LinkedProcessFailed``).

    Attributes:
        pid: The linked partner whose exit stopped this process (the last hop).
        error: The original failure (its type and message are in ``str()``).
        origin: The PID of the process where the failure happened.
        function: The qualified name of that process's function, or None when
            the raiser did not know it (a ``LinkDown`` re-raised by hand).
        hops: How many links the failure crossed to get here (1: ``pid`` is
            where it happened).
    """

    pid: PID
    error: BaseException | None
    origin: PID
    function: str | None
    hops: int
    _what: str

    def __init__(
        self, pid: PID, error: BaseException | None, *, function: str | None = None
    ) -> None:
        if isinstance(error, LinkedProcessFailed):
            origin, root, hops = error.origin, error.error, error.hops + 1
            function, what = error.function, error._what
        else:
            origin, root, hops, what = pid, error, 1, _describe(error)
        where = f" in {function}" if function else ""
        if hops > 1:
            where = f" at {origin}{where}, {hops} links away"
        super().__init__(f"linked process {pid} failed: {what}{where}")
        self.pid = pid
        self.error = root
        self.origin = origin
        self.function = function
        self.hops = hops
        self._what = what
        self.__cause__ = root


_MESSAGE_LIMIT = 200


def _describe(error: BaseException | None) -> str:
    """``Type: message``, the message cut to ``_MESSAGE_LIMIT`` characters (one line)."""
    if error is None:
        return "None"
    try:
        text = str(error)
    except Exception:  # a broken __str__ must not break the exit
        text = "<unprintable>"
    text = " ".join(text[: _MESSAGE_LIMIT * 4].split())
    if len(text) > _MESSAGE_LIMIT:
        text = text[: _MESSAGE_LIMIT - 3] + "..."
    name = type(error).__qualname__
    return f"{name}: {text}" if text else name


class MailboxFull(RuntimeError):
    """A bounded mailbox with the ``raise`` overflow policy refused a message.

    Raised to the sender. With ``drop_newest``/``drop_oldest`` nothing is
    raised; the drop is counted in ``statistics().dropped`` and logged.

    Args:
        target: The PID (or name) whose mailbox refused; kept as ``target``.
        limit: The mailbox's bound; kept as ``limit``.
    """

    def __init__(self, target: object, limit: int) -> None:
        super().__init__(f"mailbox of {target} is full ({limit} messages)")
        self.target = target
        self.limit = limit


class HostLimitReached(RuntimeError):
    """``spawn`` on a host that already runs its ``max_processes``.

    Args:
        host: The host's name; kept as ``host``.
        limit: Its ``max_processes``; kept as ``limit``.
    """

    def __init__(self, host: str, limit: int) -> None:
        super().__init__(f"host {host!r} is at its process limit ({limit})")
        self.host = host
        self.limit = limit
