"""Pools: a supervisor over N workers and a router in front of them.

``start_pool`` starts a one-for-one supervisor whose children are the pool's slots. Each worker
runs inside ``_pool_worker``, which marks its slot live when it starts and unmarks it through
the kernel's ``on_exit`` hook when it ends, before anyone hears of the exit. Routing reads only
the live slots (see ``_routing.py``), so it never picks a worker that has exited or is waiting
for its restart. ``resize`` adds or removes slots through the supervisor at run time.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, final

import attrs
import trio

from .._core._exceptions import CallTimeout, ProcessNotFound
from .._core._messages import Message
from .._supervision._backoff import Backoff
from .._supervision._spec import ChildSpec, start_supervisor
from .._supervision._supervisor import delete_child, start_child, terminate_child
from ._groups import check_topic, table_of
from ._routing import (
    HashRing,
    Routing,
    check_routing,
    key_bytes,
    round_robin,
    smallest_mailbox,
)
from ._state import node_of, process_of, state_of

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from .._core._mailbox import MailboxPolicy
    from .._core._node import Node
    from .._core._pid import PID
    from .._core._process import Process

MAX_POOL_SIZE = 10_000
"""The most workers one pool may have."""


@attrs.frozen
class PoolStatistics:
    """What ``pool.statistics()`` reports."""

    size: int
    """Worker slots."""
    live: int
    """Slots whose worker runs now (the others are being restarted or started)."""
    routed: int
    """Messages and calls routed to a worker since the pool started."""
    unrouted: int
    """Sends and calls refused because no worker was live."""


class PoolState:
    """One pool: its supervisor, slots, live workers, ring and counters."""

    __slots__ = (
        "args",
        "became_live",
        "closed",
        "cursor",
        "fn",
        "live",
        "lock",
        "name",
        "options",
        "ring",
        "routed",
        "routing",
        "size",
        "sup",
        "unrouted",
    )

    def __init__(
        self, name: str | None, routing: Routing, size: int, fn: Any, args: tuple[object, ...]
    ) -> None:
        self.name = name
        self.routing = routing
        self.size = size
        self.fn = fn
        self.args = args
        self.options: dict[str, Any] = {}
        self.live: dict[int, Process] = {}
        self.ring: HashRing | None = HashRing(size) if routing == "consistent_hash" else None
        self.cursor = 0
        self.routed = 0
        self.unrouted = 0
        self.closed = False
        self.lock = trio.Lock()
        self.sup: PID | None = None
        self.became_live: trio.Event | None = None

    def child(self, slot: int) -> ChildSpec:
        return ChildSpec(f"worker-{slot}", _pool_worker, (self, slot), **self.options)

    def resized(self, size: int) -> None:
        self.size = size
        if self.ring is not None:
            self.ring = HashRing(size)
        for slot in [s for s in self.live if s >= size]:
            del self.live[slot]  # stop routing there before it is stopped

    def gone(self, slot: int, proc: Process) -> None:
        if self.live.get(slot) is proc:
            del self.live[slot]

    def pick(self, key: object) -> Process:
        worker = self.choose(key)
        if worker is None:
            self.unrouted += 1
            raise ProcessNotFound(f"a live worker of pool {self.name or self.sup}")
        self.routed += 1
        return worker

    async def wait_live(self) -> None:
        """Wait until some worker becomes live (a start or a restart)."""
        if self.became_live is None:
            self.became_live = trio.Event()
        await self.became_live.wait()

    def choose(self, key: object) -> Process | None:
        live = self.live
        if self.routing == "round_robin":
            slot, self.cursor = round_robin(self.cursor, self.size, live)
        elif self.routing == "smallest_mailbox":
            slot = smallest_mailbox(live)
        else:
            if key is None:
                raise ValueError("consistent_hash routing needs a key (key=...)")
            assert self.ring is not None
            slot = self.ring.pick(key_bytes(key), live)
        return None if slot is None else live[slot]


async def _pool_worker(proc: Process, state: PoolState, slot: int) -> Any:
    """A pool worker: live from its first step, gone (on_exit) before its exit is heard."""
    state.live[slot] = proc
    proc.on_exit(partial(state.gone, slot, proc))
    if state.became_live is not None:
        state.became_live.set()
        state.became_live = None
    if state.name is not None:
        table_of(proc.node).join(f"pool:{state.name}", proc)
    return await state.fn(proc, *state.args)


def _check_size(size: object) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_POOL_SIZE:
        raise ValueError(f"pool size must be an int in [1, {MAX_POOL_SIZE}], got {size!r}")
    return size


@final
class Pool:
    """A supervised pool of workers behind a router; get it from :func:`actors.start_pool`
    or, for a named pool, :func:`actors.pool`.

    Workers are ``fn(proc, *args)`` processes that serve their inbox. ``send`` and ``call``
    pick one live worker by the pool's routing: ``round_robin``, ``smallest_mailbox`` (the
    fewest queued messages) or ``consistent_hash`` (by ``key``: the same key goes to the same
    slot while it lives, and about 1/size of the keys move when the pool is resized).

    Args:
        node (Node): The pool's node.
        state (PoolState): The pool's state (kept in the node, shared by every handle).
        me (Process | None): The process the handle acts as (the sender of ``send`` and
            ``call``, the caller of ``resize``); None when taken from a node.
    """

    __slots__ = ("_me", "_node", "_state")

    def __init__(self, node: Node, state: PoolState, me: Process | None) -> None:
        self._node = node
        self._state = state
        self._me = me

    def __repr__(self) -> str:
        state = self._state
        return f"<Pool {state.name or state.sup} {state.routing} size={state.size}>"

    @property
    def name(self) -> str | None:
        """The pool's name (its supervisor's registered name), or None."""
        return self._state.name

    @property
    def pid(self) -> PID:
        """The pool's supervisor."""
        assert self._state.sup is not None
        return self._state.sup

    @property
    def size(self) -> int:
        """The number of worker slots."""
        return self._state.size

    @property
    def routing(self) -> Routing:
        """``round_robin``, ``smallest_mailbox`` or ``consistent_hash``."""
        return self._state.routing

    def workers(self) -> tuple[PID | None, ...]:
        """Each slot's worker PID, None for a slot whose worker is being restarted."""
        live = self._state.live
        return tuple(live[s].pid if s in live else None for s in range(self._state.size))

    def route(self, key: object = None) -> PID:
        """The worker the next message would go to (round-robin advances).

        Args:
            key (object): The routing key for ``consistent_hash`` (str, bytes or int; the
                same key goes to the same slot); ignored by the other routings.

        Raises:
            ProcessNotFound: If no worker is live (all restarting, or the pool stopped).
            ValueError: If the pool routes by consistent hash and ``key`` is None.
            TypeError: If ``key`` is not str, bytes or int (consistent hash).
        """
        return self._state.pick(key).pid

    def send(self, topic: str, payload: object = None, *, key: object = None) -> PID:
        """Send to one live worker (see ``route``); return its PID. Never blocks.

        Args:
            topic (str): The message topic (not starting with ``@``).
            payload (object): The message payload.
            key (object): The routing key for ``consistent_hash`` (str, bytes or int; the
                same key goes to the same slot); ignored by the other routings.

        Raises:
            ProcessNotFound: If no worker is live.
            MailboxFull: If the chosen worker's bounded mailbox refuses it.
            ValueError: If ``topic`` is empty, not a string or starts with ``@``; or the
                pool routes by consistent hash and ``key`` is None.
            TypeError: If ``key`` is not str, bytes or int (consistent hash).
        """
        check_topic(topic)
        worker = self._state.pick(key)
        worker._deliver(Message(topic, payload, None if self._me is None else self._me.pid))
        return worker.pid

    async def call(
        self, topic: str, payload: object = None, *, key: object = None, timeout: float = 5.0
    ) -> Any:
        """Call one live worker and wait for its reply (at most once: no retry elsewhere).

        When no worker is live (all being restarted) the call waits for one, within the same
        ``timeout``. Async.

        Args:
            topic (str): The request topic.
            payload (object): The request payload.
            key (object): The routing key for ``consistent_hash`` (str, bytes or int; the
                same key goes to the same slot); ignored by the other routings.
            timeout (float): Seconds (> 0) for finding a live worker and its reply, together.

        Returns:
            Any: The worker's reply.

        Raises:
            ValueError: If ``timeout`` is not > 0, or the pool routes by consistent hash and
                ``key`` is None.
            TypeError: If ``key`` is not str, bytes or int (consistent hash).
            ProcessNotFound: At once, if the pool has stopped.
            CallTimeout: If no worker became live, or the worker did not reply, within
                ``timeout`` seconds.
            CallFailed: If the worker exited first (e.g. crashed), or replied with an error.
        """
        state = self._state
        if not timeout > 0:
            raise ValueError(f"call timeout must be > 0 seconds, got {timeout!r}")
        deadline = trio.current_time() + timeout
        worker = state.choose(key)
        while worker is None:
            if state.closed:
                state.unrouted += 1
                raise ProcessNotFound(f"pool {state.name or state.sup} (stopped)")
            with trio.move_on_at(deadline):
                await state.wait_live()
            worker = state.choose(key)
            if worker is None and trio.current_time() >= deadline:
                state.unrouted += 1
                raise CallTimeout(state.name or state.sup, topic, timeout)
        state.routed += 1
        sender = None if self._me is None else self._me.pid
        left = deadline - trio.current_time()
        return await self._node._call(sender, worker.pid, topic, payload, left)

    async def resize(self, size: int, *, timeout: float = 60.0) -> None:
        """Grow or shrink the pool to ``size`` slots: new slots start at the end, the highest
        slots stop (routing leaves them at once, then each gets ``Cancel``).

        Async: returns when the new workers have started and the removed ones have stopped.
        Resizes of one pool run one at a time.

        Args:
            size (int): The new number of slots, 1 to 10000.
            timeout (float): Seconds each call to the supervisor (one per slot added or
                removed) may take.

        Raises:
            ValueError: If ``size`` is not an int in [1, 10000].
            CallTimeout: If the supervisor did not answer within ``timeout``.
            CallFailed: If the supervisor exited first (the pool stopped).
        """
        state = self._state
        new = _check_size(size)
        via: Any = self._me or self._node
        async with state.lock:
            old = state.size
            state.resized(new)
            for slot in range(old, new):
                await start_child(via, self.pid, state.child(slot), timeout=timeout)
            for slot in reversed(range(new, old)):
                await terminate_child(via, self.pid, f"worker-{slot}", timeout=timeout)
                await delete_child(via, self.pid, f"worker-{slot}", timeout=timeout)

    def stop(self) -> None:
        """Ask the supervisor to stop (``Cancel``): it stops the workers, newest first."""
        self._node.cancel(self.pid, "pool stopping")

    def statistics(self) -> PoolStatistics:
        """Slots, live workers and routing counters."""
        state = self._state
        return PoolStatistics(state.size, len(state.live), state.routed, state.unrouted)


def start_pool(
    via: Node | Process,
    fn: Callable[..., Coroutine[Any, Any, Any]],
    *args: object,
    size: int,
    routing: Routing = "round_robin",
    name: str | None = None,
    mailbox: MailboxPolicy | None = None,
    backoff: Backoff | None = None,
    shutdown: float = 5.0,
    max_restarts: int = 10,
    period: float = 5.0,
) -> Pool:
    """Start a supervised pool of ``size`` workers ``fn(proc, *args)`` and return it at once.

    The supervisor is one-for-one: a worker that exits abnormally is restarted after
    ``backoff`` in the same slot (its PID changes; its place in a hash ring does not). More
    than ``max_restarts`` restarts within ``period`` seconds stop the pool. ``name`` registers
    the supervisor, makes the pool findable with :func:`actors.pool` and puts its workers in
    the process group ``"pool:<name>"``. From a process, the pool is linked to it.

    Args:
        via (Node | Process): Where to start it from: a node (no parent; stopped first at
            node shutdown) or a process (linked to it, and the handle acts as it).
        fn (Callable[..., Coroutine]): The worker, ``async def fn(proc, *args)``.
        *args (object): Extra arguments for every worker.
        size (int): The number of worker slots, 1 to 10000.
        routing (Routing): ``"round_robin"``, ``"smallest_mailbox"`` or ``"consistent_hash"``.
        name (str | None): A name (at most 200 characters) for the supervisor and the pool.
        mailbox (MailboxPolicy | None): Each worker's mailbox bound (None: unbounded).
        backoff (Backoff | None): Restart delays per slot; None for
            ``Backoff(initial=0.1, max_delay=5.0)``.
        shutdown (float): Seconds a stopping worker gets between ``Cancel`` and terminate.
        max_restarts (int): Restarts allowed within ``period`` before the pool gives up.
        period (float): The window, in seconds, ``max_restarts`` is counted in.

    Returns:
        Pool: The handle (the workers start right after).

    Raises:
        ValueError: If ``size``, ``routing``, ``shutdown``, ``max_restarts`` or ``period`` is
            invalid, or ``name`` is invalid or taken.
    """
    node = node_of(via)
    state = state_of(node)
    pools: dict[str, PoolState] = state.pools
    if name is not None:
        if type(name) is not str or not name or len(name) > 200:
            raise ValueError(f"pool name must be a non-empty string (<= 200 chars), got {name!r}")
        if name in pools or node.lookup(name) is not None:
            raise ValueError(f"pool name {name!r} is already taken")
    pool = PoolState(name, check_routing(routing), _check_size(size), fn, args)
    pool.options = {
        "mailbox": mailbox,
        "backoff": backoff if backoff is not None else Backoff(initial=0.1, max_delay=5.0),
        "shutdown": shutdown,
    }
    children = [pool.child(slot) for slot in range(pool.size)]
    sup = start_supervisor(via, children, max_restarts=max_restarts, period=period, name=name)
    pool.sup = sup
    if name is not None:
        pools[name] = pool
    node._procs[sup.seq].on_exit(partial(_closed, pools, pool))
    return Pool(node, pool, process_of(via))


def _closed(pools: dict[str, PoolState], pool: PoolState) -> None:
    pool.closed = True
    pool.live.clear()
    if pool.became_live is not None:
        pool.became_live.set()  # waiting calls see the pool closed
        pool.became_live = None
    if pool.name is not None and pools.get(pool.name) is pool:
        del pools[pool.name]


def pool(name: str, where: Process | Node | None = None) -> Pool:
    """The running pool named ``name`` on a node, acting as ``where`` when it is a process.

    Args:
        name (str): The name given to :func:`start_pool`.
        where (Process | Node | None): A process handle (the handle acts as it), a node, or
            None for the current node.

    Raises:
        ProcessNotFound: If no pool of that name runs on the node.
        TypeError: If ``where`` is not a process handle, a node or None.
    """
    node = node_of(where)
    state = state_of(node).pools.get(name)
    if state is None:
        raise ProcessNotFound(f"pool {name!r}")
    return Pool(node, state, process_of(where))
