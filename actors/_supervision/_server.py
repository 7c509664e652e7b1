"""``Server``: a gen_server-like behaviour for people who prefer classes.

Subclass ``Server``, override the hooks you need and start it with
``start_server(node, MyServer(...))`` or supervise it with
``ChildSpec("id", serve, (MyServer,))`` (a class or factory gives every
restart a fresh object, hence fresh state). One process runs the object:

- ``on_start()`` first; ``self.proc`` is set before it runs;
- then, one at a time, in arrival order with events first:
  a message sent with ``call`` goes to ``handle_call(msg)``, whose return
  value is the reply (return ``NOREPLY`` to answer later with
  ``self.proc.reply(msg, value)``); a plain ``send`` goes to
  ``handle_cast(msg)``; ``Exit`` and ``LinkDown`` events go to
  ``handle_info(event)``;
- a ``Cancel`` (or ``self.stop()`` from a handler) ends the loop:
  ``on_stop(None)`` runs and the process returns.

An exception in a hook crashes the process: the call being handled fails
with ``CallFailed`` (``__cause__`` is the exception), ``on_stop(error)``
runs, the process exits with the error (logged once by the kernel), every
other pending ``call`` fails with ``CallFailed``, and a supervisor restarts it
like any process. A forced stop (``terminate``) does not run ``on_stop``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, final

from .._core._messages import Cancel, Exit, LinkDown, Message
from .._core._node import Node
from .._time._select import select

if TYPE_CHECKING:
    from .._core._pid import PID
    from .._core._process import Process

logger = logging.getLogger("actors.server")


@final
class _NoReply:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOREPLY"


NOREPLY: Final = _NoReply()
"""Return it from ``handle_call`` to reply later with ``self.proc.reply(msg, value)``."""


class Server:
    """Base class of a server: state on the object, one hook per kind of input.

    Every hook runs in the server's own process, one at a time; an exception
    from any hook crashes that process (see the module docstring).

    Example::

        class Counter(actors.Server):
            def __init__(self) -> None:
                self.count = 0

            async def handle_call(self, msg: actors.Message) -> object:
                if msg.topic == "add":
                    self.count += msg.payload
                return self.count

        pid = actors.start_server(node, Counter())
        assert await node.call(pid, "add", 2) == 2
    """

    proc: Process
    """The server's process handle, set before ``on_start``."""

    _stopping: bool = False

    async def on_start(self) -> None:
        """Run first, before any message is handled (e.g. ``self.proc.trap_links = True``)."""

    async def handle_call(self, message: Message) -> object:
        """Answer a ``call``: the return value is the reply, unless it is ``NOREPLY``.

        The default fails the call with ``CallFailed`` (the server keeps running).

        Args:
            message: The request: ``topic``, ``payload``, ``sender``.
        """
        error = NotImplementedError(f"{type(self).__name__} does not handle calls")
        self.proc.reply_error(message, error)
        return NOREPLY

    async def handle_cast(self, message: Message) -> None:
        """Handle a message sent with ``send`` (nothing to reply). The default ignores it.

        Args:
            message: The message: ``topic``, ``payload``, ``sender``.
        """
        logger.debug("server ignored message pid=%s topic=%s", self.proc.pid, message.topic)

    async def handle_info(self, event: Exit | LinkDown) -> None:
        """Handle an ``Exit`` (a monitored process ended) or a trapped ``LinkDown``.

        The default ignores it.

        Args:
            event: The event, from ``proc.events``.
        """

    async def on_stop(self, error: BaseException | None) -> None:
        """Run last: after a ``Cancel`` or ``stop()`` (``error`` None) or a crashing hook.

        Args:
            error: None after a ``Cancel`` or ``stop()``; else the exception a hook raised, which
                the process then exits with.
        """

    def stop(self) -> None:
        """Stop after the current hook returns (``on_stop(None)`` runs; reason normal)."""
        self._stopping = True

    def format_state(self) -> object:
        """What ``actors state`` shows of this server (Erlang's ``format_status``).

        Called in the server's node, between its hooks, when someone asks. The default is
        its attributes (``vars(self)`` without ``proc``); override it to hide secrets or to
        summarize a large state. The result is shown with ``repr``, cut to a bounded size.
        """
        attributes = getattr(self, "__dict__", {})
        return {name: value for name, value in attributes.items() if name != "proc"}


ServerFactory = Callable[[], Server]


async def serve(proc: Process, server: Server | ServerFactory) -> None:
    """The server process function: run ``server`` (or a fresh ``server()``) until stopped.

    Args:
        proc (Process): The process handle.
        server (Server | Callable[[], Server]): An instance, or a class/factory
            called once per start (use one for supervised servers).

    Raises:
        TypeError: If ``server`` does not give a ``Server``.
    """
    instance = server if isinstance(server, Server) else server()
    if not isinstance(instance, Server):
        raise TypeError(f"serve() needs a Server or a factory of one, got {instance!r}")
    proc.trap_cancel = True  # a Cancel ends the loop after the current message, then on_stop
    instance.proc = proc
    instance._stopping = False
    current: Message | None = None
    try:
        await instance.on_start()
        while not instance._stopping:
            got = await select(proc.events, proc.inbox)
            item = got.value
            if got.source is proc.events:
                if isinstance(item, Cancel):
                    break
                await instance.handle_info(item)
            elif item.reply_to is not None:
                current = item
                reply = await instance.handle_call(item)
                current = None
                if reply is not NOREPLY:
                    proc.reply(item, reply)
            else:
                await instance.handle_cast(item)
    except Exception as exc:
        if current is not None:
            proc.reply_error(current, exc)
        await instance.on_stop(exc)
        raise
    await instance.on_stop(None)


def start_server(
    via: Node | Process,
    server: Server | ServerFactory,
    *,
    name: str | None = None,
    host: str | None = None,
) -> PID:
    """Start ``server`` as a process and return its PID at once.

    From a ``Process`` the server is linked to it; from a ``Node`` it has no parent.

    Args:
        via: A node (the server has no parent) or a process (the server is linked to it).
        server: A ``Server`` instance, or a factory called in the new process (a class, for a fresh
            state at every start).
        name: Register the server under this name.
        host: The host to run on; None for the node's default host.

    Raises:
        ValueError: If ``host`` is unknown or ``name`` invalid.
        NameTaken: If ``name`` is held by another live process.
        HostLimitReached: If the host is full.
    """
    if isinstance(via, Node):
        return via.spawn(serve, server, name=name, host=host)
    return via.spawn_linked(serve, server, name=name, host=host)
