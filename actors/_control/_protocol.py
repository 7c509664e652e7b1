"""The frames of the control endpoint: length-prefixed msgpack of msgspec structs.

A frame is a 4-byte big-endian length and a msgpack body. Requests are small (at most
``MAX_REQUEST`` bytes); a reply is at most ``MAX_REPLY`` bytes (``ps`` returns at most
``MAX_ROWS`` rows). A request that does not decode to one of the request structs gets an
``ErrorReply`` naming the problem; the node is never affected.
"""

from __future__ import annotations

import struct
from typing import Annotated, Literal

import msgspec

from ._directory import (
    GroupsReply,
    GroupsRequest,
    NamesReply,
    NamesRequest,
    PoolsReply,
    PoolsRequest,
)
from ._usermetrics import MetricsReply, MetricsRequest

MAX_REQUEST = 64 * 1024
MAX_REPLY = 32 * 1024 * 1024
MAX_ROWS = 10_000
MAX_PAYLOAD = 60 * 1024
"""Characters of JSON in a send/call payload (the request frame holds at most 64 KiB)."""
MAX_RESULT = 1024 * 1024
"""Bytes of JSON in a call's result."""
MAX_STATE = 1024 * 1024
MAX_TIMEOUT = 3600.0
MAX_TRACE = 100_000
PROTOCOL = 1

_HEADER = struct.Struct(">I")
HEADER_SIZE = _HEADER.size

Sort = Literal["pid", "mq", "cpu", "age"]


class PsRequest(msgspec.Struct, tag="ps", forbid_unknown_fields=True):
    """List processes, sorted, at most ``limit`` of them."""

    sort: Sort = "pid"
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_ROWS)] = 50
    cpu: bool = False
    """Start CPU sampling if it is off (``--sort cpu`` and ``top`` ask for it)."""


ProcessRef = Annotated[str, msgspec.Meta(max_length=200)]
"""A printed PID (``{main|0x00007}``), a bare sequence number (``7``, ``0x7``), or a name."""


class InfoRequest(msgspec.Struct, tag="info", forbid_unknown_fields=True):
    """Describe one process: relations, queues, stack."""

    pid: ProcessRef
    limit: Annotated[int, msgspec.Meta(ge=0, le=MAX_ROWS)] = 20
    """At most this many links and monitors are listed (their totals are always given), and
    this many of each list of names, groups, watches and subscriptions."""


class TreeRequest(msgspec.Struct, tag="tree", forbid_unknown_fields=True):
    """The supervision tree: supervisors, service managers, their children and services."""

    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_ROWS)] = 1000
    """At most this many children and services in all."""


class StatsRequest(msgspec.Struct, tag="stats", forbid_unknown_fields=True):
    """Node-wide counters."""


Topic = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
JsonText = Annotated[str, msgspec.Meta(max_length=MAX_PAYLOAD)]


class SendRequest(msgspec.Struct, tag="send", forbid_unknown_fields=True):
    """Send ``topic`` with a JSON payload to a process (refused unless the node allows it)."""

    dest: ProcessRef
    topic: Topic
    payload: JsonText = "null"
    """JSON text, decoded on the node with msgspec into plain values (no code runs)."""


class CallRequest(msgspec.Struct, tag="call", forbid_unknown_fields=True):
    """Call a process and return its reply as JSON (refused unless the node allows it)."""

    dest: ProcessRef
    topic: Topic
    payload: JsonText = "null"
    timeout: Annotated[float, msgspec.Meta(gt=0, le=MAX_TIMEOUT)] = 5.0


class StateRequest(msgspec.Struct, tag="state", forbid_unknown_fields=True):
    """A Server's state, through its ``format_state`` hook, cut to ``size`` characters."""

    dest: ProcessRef
    size: Annotated[int, msgspec.Meta(ge=100, le=MAX_STATE)] = 4000


class TraceRequest(msgspec.Struct, tag="trace", forbid_unknown_fields=True):
    """Stream what a process receives, sends and its exit: ``TraceEvent`` frames, then one
    ``TraceEnd``. Bounded: at most ``count`` events, ``seconds`` long, ``rate`` a second."""

    dest: ProcessRef
    topic: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] = "*"
    """A glob over message topics (events and the exit are always shown)."""
    count: Annotated[int, msgspec.Meta(ge=1, le=MAX_TRACE)] = 100
    seconds: Annotated[float, msgspec.Meta(gt=0, le=MAX_TIMEOUT)] = 60.0
    rate: Annotated[int, msgspec.Meta(ge=1, le=MAX_TRACE)] = 50
    """Events reported per second at most; the others are counted as dropped."""


Query = (
    PsRequest
    | InfoRequest
    | StatsRequest
    | TreeRequest
    | MetricsRequest
    | NamesRequest
    | GroupsRequest
    | PoolsRequest
)
"""Requests that only read the node."""
Request = Query | SendRequest | CallRequest | StateRequest | TraceRequest


class ProcessRow(msgspec.Struct):
    """One line of ``actors ps``."""

    pid: str
    name: str
    host: str
    function: str
    state: str
    """``starting``, ``running``, ``exiting`` or ``waiting <what>`` (queues, or the innermost
    call)."""
    inbox: int
    events: int
    listened: int
    """Messages queued in ``listen`` queues."""
    received: int
    age: float
    """Seconds since spawn (trio's clock)."""
    restarts: int | None
    """Restarts of this child/service so far (None: not supervised)."""
    cpu: float | None
    """Seconds in task steps since CPU sampling began (None when it is off)."""
    parent: str = ""
    """The supervisor or service manager that owns it, else the process it was spawned linked
    from; ``""`` when neither is known."""


class QueueRow(msgspec.Struct):
    """One mailbox queue of a process."""

    name: str
    queued: int
    received: int
    dropped: int
    limit: int | None
    waiting: bool


class PsReply(msgspec.Struct, tag="ps"):
    node: str
    pid: int
    """The OS process id of the node."""
    total: int
    """Live processes (``rows`` holds at most ``limit``)."""
    uptime: float
    cpu_sampling: bool
    rows: list[ProcessRow]
    stalls: StallSummary | None = None
    """The loop-stall watchdog's counters (None: it is off, or the node predates it)."""


class StallSummary(msgspec.Struct):
    """The loop-stall watchdog's counters of a node (``node.statistics()``)."""

    threshold: float
    count: int
    longest: float
    last_pid: str = ""
    """The process (``-``: a plain trio task) that held the loop in the latest stall."""
    last_function: str = ""
    last_duration: float = 0.0


class InfoReply(msgspec.Struct, tag="info"):
    row: ProcessRow
    names: list[str]
    links: list[str]
    """The first ``limit`` linked processes (``links_total`` in all)."""
    monitors: list[str]
    """The first ``limit`` processes monitoring this one (``monitors_total`` in all)."""
    trap_links: bool
    queues: list[QueueRow]
    stack: list[str]
    """The current await chain, outermost first (``file:line in function``)."""
    links_total: int = 0
    monitors_total: int = 0
    global_names: list[str] = []
    """The group-wide names it holds (``group.names``), sorted."""
    groups: list[str] = []
    """The local process groups it is in (``actors.groups``), in join order."""
    spanning_groups: list[str] = []
    """The spanning process groups it is in (``actors.cluster.spanning_groups``)."""
    watching: list[str] = []
    """The groups it watches (``monitor``); a spanning one is marked ``(spanning)``."""
    subscriptions: list[str] = []
    """Its event bus subscriptions: ``system kind path -> topic``."""
    cut: dict[str, int] = {}
    """The totals of the lists above that were cut to ``limit`` (field name -> total)."""


class TreeNode(msgspec.Struct):
    """One entry of the supervision tree."""

    kind: str
    """``supervisor``, ``services`` (a service manager), ``child`` or ``service``."""
    name: str
    pid: str
    """The running process, or ``""``."""
    state: str
    """``running``, ``restarting``, ``stopped`` (children); the service states (services)."""
    restarts: int | None = None
    children: list[TreeNode] = msgspec.field(default_factory=list)


class TreeReply(msgspec.Struct, tag="tree"):
    node: str
    roots: list[TreeNode]
    omitted: int
    """Children and services left out to keep within the request's ``limit``."""
    processes: int
    """Live processes on the node (most are not supervised)."""


class StatsReply(msgspec.Struct, tag="stats"):
    node: str
    pid: int
    uptime: float
    processes: int
    hosts: dict[str, int]
    queued: int
    timers_pending: int
    timers_fired: int
    dropped_ticks: int
    stalls: StallSummary | None = None


class ErrorReply(msgspec.Struct, tag="error"):
    message: str


class OkReply(msgspec.Struct, tag="ok"):
    message: str


class CallReply(msgspec.Struct, tag="call"):
    result: str
    """The reply, as JSON text (a value JSON cannot hold is shown by its ``repr``)."""


class StateReply(msgspec.Struct, tag="state"):
    pid: str
    server: str
    """The Server class, ``module.qualname``."""
    state: list[tuple[str, str]]
    """(attribute, repr) pairs when ``format_state`` gives a dict, else one ("", repr)."""
    truncated: int
    """Characters left out to stay within the request's ``size``."""


class TraceEvent(msgspec.Struct, tag="trace_event"):
    at: float
    """Seconds since the trace began (the node's clock)."""
    kind: str
    """``in`` (received), ``out`` (sent), ``call``, ``reply``, ``reply in``, ``event``,
    ``exit``."""
    topic: str
    """The message topic; the event's type; the exit's reason and error."""
    peer: str
    """The sender (``in``) or destination (``out``, ``call``), or ``""``."""
    payload: str
    """A bounded ``repr`` of the payload (or of the event)."""


class TraceEnd(msgspec.Struct, tag="trace_end"):
    reason: str
    """``count``, ``time``, ``exit`` (the process ended) or ``closed``."""
    events: int
    dropped: int
    """Events not shown: over the rate limit, or the buffer was full."""


QueryReply = (
    PsReply
    | InfoReply
    | StatsReply
    | TreeReply
    | MetricsReply
    | NamesReply
    | GroupsReply
    | PoolsReply
)
Reply = QueryReply | OkReply | CallReply | StateReply | TraceEvent | TraceEnd | ErrorReply

_request_decoder = msgspec.msgpack.Decoder(Request)
_reply_decoder = msgspec.msgpack.Decoder(Reply)
_encoder = msgspec.msgpack.Encoder()


class FrameError(ValueError):
    """A frame that is too big or does not decode."""


def frame(message: Request | Reply) -> bytes:
    """Encode ``message`` with its length prefix."""
    body = _encoder.encode(message)
    return _HEADER.pack(len(body)) + body


def body_size(header: bytes, limit: int) -> int:
    """The body length announced by ``header``.

    Raises:
        FrameError: If it is larger than ``limit``.
    """
    (size,) = _HEADER.unpack(header)
    if size > limit:
        raise FrameError(f"frame of {size} bytes is larger than the limit of {limit}")
    return int(size)


def decode_request(body: bytes) -> Request:
    """Decode a request body.

    Raises:
        FrameError: If it is not a valid request; the message says why.
    """
    try:
        return _request_decoder.decode(body)
    except msgspec.DecodeError as error:
        raise FrameError(f"bad request: {error}") from None


def decode_reply(body: bytes) -> Reply:
    """Decode a reply body.

    Raises:
        FrameError: If it is not a valid reply.
    """
    try:
        return _reply_decoder.decode(body)
    except msgspec.DecodeError as error:
        raise FrameError(f"bad reply from the node: {error}") from None
