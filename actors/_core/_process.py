"""The process: its state in the node, and the handle its function receives."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, ClassVar, Concatenate, ParamSpec, TypeVar, final

from . import _lifecycle
from ._exceptions import Cancelled
from ._listeners import Listeners
from ._mailbox import MailboxPolicy, MessageQueue
from ._messages import Cancel, Event, Message, ReplySlot, reply_error, reply_value
from ._timing import Ticker, Timer, time_source

if TYPE_CHECKING:
    from datetime import timedelta

    from trio.lowlevel import Task

    from ._hosts import Host
    from ._messages import Exit, ExitReason
    from ._node import Node
    from ._pid import PID

P = ParamSpec("P")
R = TypeVar("R")
ProcessFunction = Callable[Concatenate["Process", P], Awaitable[R]]


@final
class Process:
    """A running process, as seen from inside: ``async def main(proc, *args)``.

    Everything a process does to others goes through its handle: ``send``,
    ``spawn*``, ``call``/``reply``, ``monitor``/``link``, ``cancel``/``terminate``,
    names. Its own mailbox is ``inbox`` (messages), ``events`` (``Exit``,
    ``LinkDown``, ``Cancel``) and the queues returned by ``listen``.

    Do not create it yourself; the node passes it to the process function.

    Args:
        node: The node it runs on.
        pid: Its PID, allocated by the node.
        fn: Its process function.
        host: The host it counts against.
        policy: The bound of its inbox and listened queues; None for unbounded.
        now: ``trio.current_time()`` at spawn (``started_at``).
    """

    __slots__ = (
        "_cancel_requested",
        "_events",
        "_exit_hooks",
        "_fn",
        "_inbox",
        "_kill",
        "_kill_reason",
        "_links",
        "_listeners",
        "_monitored_by",
        "_names",
        "_node",
        "_on_exit",
        "_policy",
        "_task",
        "_trap_cancel",
        "_trap_links",
        "host",
        "pid",
        "started_at",
    )
    _is_remote: ClassVar[bool] = False
    """False here; True on the stand-ins actors.cluster returns for other nodes' processes."""

    def __init__(
        self, node: Node, pid: PID, fn: object, host: Host, policy: MailboxPolicy | None, now: float
    ) -> None:
        self._node = node
        self.pid = pid
        self.host = host
        self._fn = fn
        self._policy = policy
        self.started_at = now
        self._task: Task | None = None
        self._inbox: MessageQueue[Message] | None = None
        self._events: MessageQueue[Event] | None = None
        self._listeners: Listeners | None = None
        # A relation is None, one Process, or a set of them: most processes
        # have zero or one monitor/link, and an empty set costs 216 bytes.
        self._links: Process | set[Process] | None = None
        self._monitored_by: Process | set[Process] | None = None
        self._names: list[str] | None = None
        self._exit_hooks: list[Callable[[Exit], None]] | None = None
        self._on_exit: list[Callable[[], None]] | None = None
        self._kill: BaseException | None = None
        self._kill_reason: ExitReason | None = None
        self._cancel_requested = False
        self._trap_links = False
        self._trap_cancel = False

    def __repr__(self) -> str:
        return f"<Process {self.pid} {getattr(self._fn, '__qualname__', self._fn)}>"

    # -- mailbox ------------------------------------------------------------------

    @property
    def inbox(self) -> MessageQueue[Message]:
        """Messages whose topic no ``listen`` pattern matches."""
        inbox = self._inbox
        if inbox is None:
            inbox = self._inbox = MessageQueue("inbox", self, self._policy)
        return inbox

    @property
    def events(self) -> MessageQueue[Event]:
        """``Exit``, ``LinkDown`` and ``Cancel`` events (never bounded)."""
        events = self._events
        if events is None:
            events = self._events = MessageQueue("events", self)
        return events

    def listen(self, pattern: str) -> MessageQueue[Message]:
        """Route messages whose topic matches ``pattern`` to a queue of their own.

        ``pattern`` is an exact topic or a glob (``"update.*"``). Exact patterns
        are matched first, then globs in the order they were added. Messages
        already in the inbox stay there. Listening to the same pattern twice
        returns the same queue.

        Args:
            pattern: An exact topic or a glob (``*``, ``?``, ``[...]`` as in ``fnmatch``); not empty
                and not starting with ``@``.

        Returns:
            MessageQueue: The queue of that pattern, bounded by the process's mailbox policy.

        Raises:
            ValueError: If ``pattern`` is empty, not a string, or reserved (starts with ``@``).
        """
        _check_topic(pattern)
        listeners = self._listeners
        if listeners is None:
            listeners = self._listeners = Listeners()
        queue = listeners.get(pattern)
        if queue is None:
            queue = MessageQueue(f"listen:{pattern}", self, self._policy)
            listeners.add(pattern, queue)
        return queue

    def unlisten(self, pattern: str) -> None:
        """Stop routing ``pattern``; messages still queued there move to the inbox.

        Args:
            pattern: A pattern given to ``listen`` before.

        Raises:
            ValueError: If this process does not listen to ``pattern``.
        """
        listeners = self._listeners
        queue = None if listeners is None else listeners.remove(pattern)
        if queue is None:
            raise ValueError(f"not listening to {pattern!r}")
        for message in queue._drain():
            self.inbox._put_unbounded(message)

    def _deliver(self, message: Message) -> None:
        listeners = self._listeners
        if listeners is not None:
            queue = listeners.match(message.topic)
            if queue is not None:
                queue._put(message)
                return
        inbox = self._inbox
        if inbox is None:
            inbox = self._inbox = MessageQueue("inbox", self, self._policy)
        inbox._put(message)

    def _post_event(self, event: Event) -> None:
        self.events._put(event)

    def _depth(self) -> int:
        depth = len(self._inbox or ()) + len(self._events or ())
        if self._listeners is not None:
            depth += sum(len(q) for q in self._listeners.queues())
        return depth

    # -- messaging ----------------------------------------------------------------

    def send(self, dest: PID | str, topic: str, payload: object = None) -> None:
        """Put a message in another process's mailbox (never blocks).

        Args:
            dest (PID | str): A PID, its printed form, or a registered name
                (resolved now).
            topic (str): Routes the message; must not start with ``@``.
            payload (object): Passed by reference; prefer immutable values.

        Raises:
            ProcessNotFound: If ``dest`` is not a live process.
            MailboxFull: If the target's bounded mailbox refuses it.
            ValueError: If the topic is reserved or not a string.
        """
        if type(topic) is not str or not topic or topic[0] == "@":
            _check_topic(topic)
        self._node._resolve(dest)._deliver(Message(topic, payload, self.pid))

    async def call(
        self, dest: PID | str, topic: str, payload: object = None, *, timeout: float = 5.0
    ) -> Any:
        """Send a request and wait for the receiver's ``reply``.

        Args:
            dest: A PID, its printed form (``"{host|0x00001}"``), or a registered name (resolved
                now; ``name@node`` in a node group).
            topic: Routes the request; must not start with ``@``.
            payload: Passed by reference; prefer immutable values.
            timeout: Seconds to wait for the reply (> 0).

        Returns:
            Any: The value the target passed to ``reply`` (or its ``Server.handle_call`` returned).

        Raises:
            ProcessNotFound: At once, if ``dest`` is not a live process.
            CallTimeout: If no reply came within ``timeout`` seconds.
            CallFailed: If the target exited first, or replied with an error.
        """
        return await self._node._call(self.pid, dest, topic, payload, timeout)

    def reply(self, message: Message, value: object = None) -> bool:
        """Answer a message sent with ``call``.

        Args:
            message: The request, as received (it carries the caller's reply slot).
            value: What the caller's ``call`` returns.

        Returns:
            bool: False when the caller stopped waiting (timeout, cancelled or
            exited); the reply is then discarded.

        Raises:
            ValueError: If ``message`` was not sent with ``call``.
        """
        return reply_value(_slot(message), value)

    def reply_error(self, message: Message, error: BaseException) -> bool:
        """Fail the ``call`` that sent ``message``: the caller gets ``CallFailed``.

        Args:
            message: The request, as received.
            error: Becomes the ``__cause__`` of the caller's ``CallFailed``.

        Returns:
            bool: False when the caller stopped waiting; the error is then discarded.

        Raises:
            ValueError: If ``message`` was not sent with ``call``.
        """
        return reply_error(_slot(message), error)

    # -- spawning -----------------------------------------------------------------

    def spawn(
        self,
        fn: Callable[..., Coroutine[Any, Any, Any]],
        *args: object,
        host: str | None = None,
        name: str | None = None,
        mailbox: MailboxPolicy | None = None,
        link: bool = False,
        monitor: bool = False,
        trap_links: bool = False,
    ) -> PID:
        """Start ``fn(child_proc, *args)`` as a new process and return its PID at once.

        A plain spawn creates no relationship: the child outlives its parent.
        ``link=True`` links them (``spawn_linked``); ``monitor=True`` makes the
        parent receive the child's ``Exit`` (``spawn_monitored``). Both are set
        up before the child runs, so no exit can be missed. ``trap_links=True``
        makes the child trap links from its first step (supervisors use it).

        Args:
            fn: The child's function, ``async def fn(proc, *args)``.
            *args: Passed to ``fn`` after the child's ``Process``.
            host: The host to run on; None for the node's default host.
            name: Register the child under this name before it runs (released at its exit).
            mailbox: A bound for each of the child's queues; None for unbounded.
            link: Link the child with this process.
            monitor: Monitor the child from this process.
            trap_links: Set the child's ``trap_links`` before its first step.

        Raises:
            RuntimeError: If the node is shutting down.
            ValueError: If ``host`` is not declared or ``name`` is not a valid name.
            HostLimitReached: If the host already runs its ``max_processes``.
            NameTaken: If another live process holds ``name``.
        """
        return self._node._spawn(fn, args, self, host, name, mailbox, link, monitor, trap_links)

    def spawn_monitored(
        self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: object, **options: Any
    ) -> PID:
        """Spawn and monitor: this process receives the child's ``Exit``.

        Args:
            fn: The child's function.
            *args: Passed to ``fn`` after the child's ``Process``.
            **options: ``host``, ``name``, ``mailbox``, ``link``, ``trap_links``, as for ``spawn``.

        Raises:
            RuntimeError: If the node is shutting down.
            ValueError: If ``host`` is not declared or ``name`` is not a valid name.
            HostLimitReached: If the host already runs its ``max_processes``.
            NameTaken: If another live process holds ``name``.
        """
        return self.spawn(fn, *args, monitor=True, **options)

    def spawn_linked(
        self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: object, **options: Any
    ) -> PID:
        """Spawn and link: an abnormal exit of either one reaches the other.

        Args:
            fn: The child's function.
            *args: Passed to ``fn`` after the child's ``Process``.
            **options: ``host``, ``name``, ``mailbox``, ``monitor``, ``trap_links``, as for
                ``spawn``.

        Raises:
            RuntimeError: If the node is shutting down.
            ValueError: If ``host`` is not declared or ``name`` is not a valid name.
            HostLimitReached: If the host already runs its ``max_processes``.
            NameTaken: If another live process holds ``name``.
        """
        return self.spawn(fn, *args, link=True, **options)

    def spawn_linked_monitored(
        self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: object, **options: Any
    ) -> PID:
        """Spawn, link and monitor.

        Args:
            fn: The child's function.
            *args: Passed to ``fn`` after the child's ``Process``.
            **options: ``host``, ``name``, ``mailbox``, ``trap_links``, as for ``spawn``.

        Raises:
            RuntimeError: If the node is shutting down.
            ValueError: If ``host`` is not declared or ``name`` is not a valid name.
            HostLimitReached: If the host already runs its ``max_processes``.
            NameTaken: If another live process holds ``name``.
        """
        return self.spawn(fn, *args, link=True, monitor=True, **options)

    async def exec(
        self, fn: Callable[..., Coroutine[Any, Any, R]], *args: object, **options: Any
    ) -> R:
        """Spawn ``fn`` and wait for it: return its result or raise its error.

        Args:
            fn: The function to run as a new process (no link, no monitor).
            *args: Passed to ``fn`` after its ``Process``.
            **options: ``host``, ``name``, ``mailbox``, ``trap_links``, as for ``Node.spawn``.

        Raises:
            Exception: Whatever ``fn`` raised (its exit error), unchanged.
        """
        return await self._node.exec(fn, *args, **options)

    # -- relationships ------------------------------------------------------------

    def monitor(self, dest: PID | str) -> None:
        """Receive ``Exit`` on ``events`` when ``dest`` ends (exactly once).

        Monitoring twice is the same as once. A dead PID gives
        ``Exit(error=NoProc)`` at once.

        Args:
            dest: A PID, its printed form (``"{host|0x00001}"``), or a registered name (resolved
                now; ``name@node`` in a node group).

        Raises:
            ValueError: If ``dest`` is this process, or a malformed PID string.
        """
        _lifecycle.monitor(self, dest)

    def demonitor(self, dest: PID | str) -> None:
        """Stop monitoring ``dest``; an ``Exit`` from it already queued is removed.

        Args:
            dest: A PID, its printed form (``"{host|0x00001}"``), or a registered name (resolved
                now; ``name@node`` in a node group).
        """
        _lifecycle.demonitor(self, dest)

    def link(self, dest: PID | str) -> None:
        """Link with ``dest``: when either ends abnormally the other gets ``LinkDown``.

        An untrapped ``LinkDown`` makes the receiver exit with
        ``LinkedProcessFailed``. Linking to a dead PID behaves as if it had just
        failed with ``NoProc``.

        Args:
            dest: A PID, its printed form (``"{host|0x00001}"``), or a registered name (resolved
                now; ``name@node`` in a node group).

        Raises:
            ValueError: If ``dest`` is this process, or a malformed PID string.
        """
        _lifecycle.link(self, dest)

    def unlink(self, dest: PID | str) -> None:
        """Remove the link with ``dest`` (no error if there was none).

        Args:
            dest: A PID, its printed form (``"{host|0x00001}"``), or a registered name (resolved
                now; ``name@node`` in a node group).
        """
        _lifecycle.unlink(self, dest)

    @property
    def trap_links(self) -> bool:
        """When true, ``LinkDown`` arrives as an event instead of failing the process."""
        return self._trap_links

    @trap_links.setter
    def trap_links(self, value: bool) -> None:
        self._trap_links = bool(value)

    @property
    def trap_cancel(self) -> bool:
        """Whether a ``Cancel`` only arrives on ``events`` (default False).

        Not trapping (the default, as an Erlang process that does not trap
        exits): a ``Cancel`` (node shutdown, a supervisor stopping the
        process, ``cancel(pid)``) raises :class:`~actors.Cancelled` where the
        process waits (its inbox, a ticker, ``actors.sleep``, a call), or at
        its next wait if it is running, unless the process is waiting on
        ``proc.events`` (alone or in a ``select``) or takes the ``Cancel``
        from ``events`` before it waits again: then it gets the event only.
        So ``async for msg in proc.inbox`` stops at once on a shutdown, and a
        loop that selects on ``proc.events`` handles its ``Cancel`` as an
        event. The ``Cancel`` is queued on ``events`` in every case.

        Set it to True to trap cancels: a ``Cancel`` then only arrives on
        ``events``, wherever the process waits (a process that must finish
        its work or clean up with waits of its own). Setting it to False after
        a ``Cancel`` already arrived raises at the next wait.
        """
        return self._trap_cancel

    @trap_cancel.setter
    def trap_cancel(self, value: bool) -> None:
        self._trap_cancel = trapped = bool(value)
        if not trapped and self._cancel_requested:
            queued = self._events._items if self._events is not None else None
            cancels = [e for e in queued or () if isinstance(e, Cancel)]
            _lifecycle.interrupt(self, Cancelled(cancels[-1] if cancels else None))

    # -- stopping others ------------------------------------------------------------

    def cancel(self, dest: PID | str, reason: str = "") -> None:
        """Ask ``dest`` to stop: post a ``Cancel`` event (cooperative).

        Args:
            dest: A PID, its printed form (``"{host|0x00001}"``), or a registered name (resolved
                now; ``name@node`` in a node group).
            reason: Carried by the ``Cancel`` (its ``reason``), for the target's logs.

        Raises:
            ProcessNotFound: If ``dest`` is not a live process.
        """
        self._node._cancel(self.pid, dest, reason)

    def terminate(self, dest: PID | str) -> None:
        """Stop ``dest`` by force: it exits with ``Terminated`` wherever it waits.

        Args:
            dest: A PID, its printed form (``"{host|0x00001}"``), or a registered name (resolved
                now; ``name@node`` in a node group).

        Raises:
            ProcessNotFound: If ``dest`` is not a live process.
        """
        self._node.terminate(dest)

    # -- names --------------------------------------------------------------------

    def register(self, name: str, pid: PID | None = None) -> None:
        """Register ``name`` for ``pid`` (default: this process); released at exit.

        Args:
            name: A non-empty string not starting with ``{`` or ``@``.
            pid: The process to name; None for this one.

        Raises:
            NameTaken: If another live process holds ``name``.
            ProcessNotFound: If ``pid`` is not alive.
            ValueError: If ``name`` is invalid, or ``pid`` is on another node.
        """
        self._node.register(name, self.pid if pid is None else pid)

    def unregister(self, name: str) -> bool:
        """Release ``name``; return whether it was registered.

        Args:
            name: The name to release (whichever process holds it).
        """
        return self._node.unregister(name)

    def lookup(self, name: str) -> PID | None:
        """Return the PID registered under ``name``, or None.

        Args:
            name: A registered name (this node's names only).
        """
        return self._node.lookup(name)

    # -- time (served by the time layer: see _timing.py) ---------------------------

    def after(self, duration: float | str | timedelta) -> Timer:
        """A one-shot timer that fires once after ``duration``; stopped when this process exits.

        Args:
            duration: When to fire, from now: a duration string (``"1.5s"``), seconds or a
                timedelta, > 0.

        Raises:
            ValueError: If ``duration`` is malformed or not > 0.
        """
        return time_source().after(duration, owner=self)

    def timer(self, duration: float | str | timedelta) -> Timer:
        """A stoppable, resettable one-shot timer owned by this process.

        Args:
            duration: When to fire, from now: a duration string, seconds or a timedelta, > 0.

        Raises:
            ValueError: If ``duration`` is malformed or not > 0.
        """
        return time_source().after(duration, owner=self)

    def ticker(self, period: float | str | timedelta, *, buffer: int = 16) -> Ticker:
        """A fixed-rate ticker anchored at its start, owned by this process.

        Up to ``buffer`` ticks wait for a slow consumer; more are dropped and
        counted (``ticker.dropped``).

        Args:
            period: Time between ticks: a duration string, seconds or a timedelta, > 0.
            buffer: Most ticks held for a slow consumer (an int >= 0).

        Raises:
            ValueError: If ``period`` is malformed or not > 0, or ``buffer`` < 0.
        """
        return time_source().ticker(period, owner=self, buffer=buffer)

    async def sleep(self, duration: float | str | timedelta) -> None:
        """Sleep on the node's timer service (no cancel scope per sleep).

        Args:
            duration: How long: a duration string, seconds or a timedelta, >= 0 (zero just yields).

        Raises:
            ValueError: If ``duration`` is malformed or negative.
        """
        await time_source().sleep(duration, owner=self)

    # -- runtime hooks --------------------------------------------------------------

    def _add_exit_hook(self, hook: Callable[[Exit], None]) -> None:
        hooks = self._exit_hooks
        if hooks is None:
            self._exit_hooks = [hook]
        else:
            hooks.append(hook)

    def _remove_exit_hook(self, hook: Callable[[Exit], None]) -> None:
        hooks = self._exit_hooks
        if hooks is not None and hook in hooks:
            hooks.remove(hook)

    def on_exit(self, callback: Callable[[], None]) -> None:
        """Run ``callback()`` when this process ends (timers use it to stop).

        Args:
            callback: Called with no arguments, in registration order, as the process ends; it must
                not block.
        """
        callbacks = self._on_exit
        if callbacks is None:
            self._on_exit = [callback]
        else:
            callbacks.append(callback)

    @property
    def node(self) -> Node:
        """The node this process runs on."""
        return self._node


def _slot(message: Message) -> ReplySlot:
    slot = message.reply_to
    if slot is None:
        raise ValueError(f"message on topic {message.topic!r} was not sent with call()")
    return slot


def _check_topic(topic: object) -> None:
    if type(topic) is not str or not topic:
        raise ValueError(f"topic must be a non-empty string, got {topic!r}")
    if topic.startswith("@"):
        raise ValueError(f"topic {topic!r} is reserved: topics starting with '@' are the runtime's")
