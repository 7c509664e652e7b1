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

MAX_REQUEST = 64 * 1024
MAX_REPLY = 32 * 1024 * 1024
MAX_ROWS = 10_000
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


class InfoRequest(msgspec.Struct, tag="info", forbid_unknown_fields=True):
    """Describe one process: relations, queues, stack."""

    pid: Annotated[str, msgspec.Meta(max_length=200)]
    """A printed PID (``{main|0x00007}``), a bare sequence number, or a registered name."""


class StatsRequest(msgspec.Struct, tag="stats", forbid_unknown_fields=True):
    """Node-wide counters."""


Request = PsRequest | InfoRequest | StatsRequest


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
    monitors: list[str]
    """Processes monitoring this one."""
    trap_links: bool
    queues: list[QueueRow]
    stack: list[str]
    """The current await chain, outermost first (``file:line in function``)."""


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


Reply = PsReply | InfoReply | StatsReply | ErrorReply

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
