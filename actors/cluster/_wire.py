"""The wire format between nodes: msgspec (msgpack) frames, never pickle.

Every frame the node group sends is one :data:`Frame` value: a tagged msgspec
``Struct`` encoded as a msgpack array. Payloads are plain data: None, bool, int,
float, str, bytes, lists and tuples (they arrive as lists), dicts, and PIDs
(carried as a msgpack extension, so they arrive as PIDs). Anything else fails at
``send`` with :class:`PayloadError` naming the type. A frame that does not decode
is reported to the caller, which logs and drops it.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from .._core._pid import PID

__all__ = ["PayloadError", "decode", "encode", "encode_payload_check"]

_PID_EXT = 1


class PayloadError(TypeError):
    """A payload (or result) cannot cross to another node: it names the offending type.

    Raised by ``send``/``call``/``spawn`` toward a remote process before anything
    is sent, so a message is either encoded whole or not sent at all.

    Args:
        what (str): What was being sent (``"a payload"``, ``"spawn arguments"``...).
        bad (object): The offending value.
        why (str): The reason; default: its type is not plain data.
    """

    def __init__(self, what: str, bad: object, why: str = "") -> None:
        why = why or (
            f"values of type {type(bad).__qualname__} are not encodable "
            "(use None, bool, int, float, str, bytes, list, tuple, dict, PID)"
        )
        super().__init__(f"cannot send {what} to another node: {why}")
        self.type = type(bad)


class _Struct(msgspec.Struct, array_like=True, tag=True, frozen=True):
    pass


class Hello(_Struct, tag="hi", frozen=True):
    node: str
    incarnation: int


class Send(_Struct, tag="s", frozen=True):
    to: PID
    topic: str
    payload: Any
    sender: PID | None
    call: int = 0
    """Non-zero: a ``call`` waiting for ``Reply(call)``."""


class SendName(_Struct, tag="sn", frozen=True):
    name: str
    topic: str
    payload: Any
    sender: PID | None
    call: int = 0


class Reply(_Struct, tag="r", frozen=True):
    call: int
    ok: bool
    value: Any = None
    error: str = ""
    noproc: bool = False


class Watch(_Struct, tag="w", frozen=True):
    ref: int
    target: PID


class Unwatch(_Struct, tag="uw", frozen=True):
    ref: int


class Down(_Struct, tag="d", frozen=True):
    ref: int
    target: PID
    reason: str
    result: Any = None
    error: str = ""
    noproc: bool = False


class Link(_Struct, tag="l", frozen=True):
    local: PID
    """The linking process on the sending node."""
    remote: PID
    """The process on the receiving node."""


class Unlink(_Struct, tag="ul", frozen=True):
    local: PID
    remote: PID


class LinkExit(_Struct, tag="lx", frozen=True):
    source: PID
    """The linked process that ended abnormally (on the sending node)."""
    to: PID
    reason: str
    error: str = ""
    noproc: bool = False


class CancelReq(_Struct, tag="c", frozen=True):
    to: PID
    sender: PID | None
    reason: str


class TerminateReq(_Struct, tag="t", frozen=True):
    to: PID


class Spawn(_Struct, tag="sp", frozen=True):
    ref: int
    function: str
    args: list[Any]
    host: str | None
    name: str | None
    watcher: PID | None = None
    """Monitor set up before the child runs (``Down(ref)`` on exit)."""
    linker: PID | None = None
    """Link set up before the child runs."""


class Spawned(_Struct, tag="sd", frozen=True):
    ref: int
    pid: PID | None
    error: str = ""


class Lookup(_Struct, tag="lk", frozen=True):
    ref: int
    name: str


class Found(_Struct, tag="f", frozen=True):
    ref: int
    pid: PID | None


class NameClaim(_Struct, tag="gn", frozen=True):
    """The sending node holds group-wide ``name`` for its process ``pid`` since ``at``."""

    name: str
    pid: PID
    at: float


class NameRelease(_Struct, tag="gr", frozen=True):
    """The sending node no longer holds ``name`` for ``pid``."""

    name: str
    pid: PID


class GroupJoin(_Struct, tag="pj", frozen=True):
    """Processes of the sending node joined the spanning ``group``."""

    group: str
    pids: list[PID]


class GroupLeave(_Struct, tag="pl", frozen=True):
    """Processes of the sending node left the spanning ``group``."""

    group: str
    pids: list[PID]


class Sync(_Struct, tag="sy", frozen=True):
    """A batch of the sending node's claims and memberships (sent when a peer comes up)."""

    names: list[NameClaim]
    groups: list[GroupJoin]
    ask: bool = False
    """The last batch sent at peer up: the receiver answers with all of its own (``ask``
    False), in case the frames it sent at its own peer up were lost."""
    incarnation: int | None = None
    """The sending node's incarnation (its run): a new one means its earlier run is gone."""


class NotDelivered(_Struct, tag="nd", frozen=True):
    to: PID
    """The sender of the lost messages (on the receiving node)."""
    dest: PID | str
    """As addressed: a PID, or ``"name@node"``."""
    topic: str
    reason: str
    why: str
    count: Annotated[int, msgspec.Meta(ge=1, le=1 << 62)]


Frame = (
    Hello
    | Send
    | SendName
    | Reply
    | Watch
    | Unwatch
    | Down
    | Link
    | Unlink
    | LinkExit
    | CancelReq
    | TerminateReq
    | Spawn
    | Spawned
    | Lookup
    | Found
    | NameClaim
    | NameRelease
    | GroupJoin
    | GroupLeave
    | Sync
    | NotDelivered
)


def _tag_pids(value: Any) -> Any:
    """Replace PIDs nested in containers by extensions (msgspec packs NamedTuples as arrays)."""
    kind = type(value)
    if kind is PID:
        return msgspec.msgpack.Ext(_PID_EXT, _PID_ENCODER.encode(tuple(value)))
    if kind is list or kind is tuple:
        return [_tag_pids(item) for item in value]
    if kind is dict:
        return {k: _tag_pids(v) for k, v in value.items()}  # keys are scalars
    return value


_PID_ENCODER = msgspec.msgpack.Encoder()
_PID_DECODER = msgspec.msgpack.Decoder(PID)


def _enc_hook(value: Any) -> Any:
    raise PayloadError("a payload", value)


def _ext_hook(code: int, data: memoryview) -> Any:
    if code == _PID_EXT:
        return _PID_DECODER.decode(data)
    raise msgspec.ValidationError(f"unknown msgpack extension type {code}")


_ENCODER = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
_DECODER = msgspec.msgpack.Decoder(Frame, ext_hook=_ext_hook)
_KEYS = (str, int, float, bool, bytes, type(None))
_ALLOWED = (type(None), bool, int, float, str, bytes, list, tuple, dict, PID)


def _check(value: Any, what: str) -> None:
    """Refuse types msgspec would encode but not give back (structs, dates, sets...)."""
    kind = type(value)
    if kind is list or kind is tuple:
        for item in value:
            _check(item, what)
    elif kind is dict:
        for key, item in value.items():
            if type(key) not in _KEYS:
                raise PayloadError(what, key, f"a dict key of type {type(key).__qualname__}")
            _check(key, what)
            _check(item, what)
    elif kind is int:
        if not -(1 << 63) <= value < 1 << 64:
            raise PayloadError(what, value, f"the int {value} does not fit in 64 bits")
    elif kind not in _ALLOWED:
        raise PayloadError(what, value)


def encode_payload_check(value: Any, what: str = "a payload") -> Any:
    """Check ``value`` crosses nodes intact and return its wire form.

    Args:
        value (Any): The payload (or result, or arguments).
        what (str): What it is, for the error message.

    Returns:
        The value to put in a frame (PIDs nested in it replaced by msgpack extensions).

    Raises:
        PayloadError: Naming the first value whose type is not plain data.
    """
    kind = type(value)
    if kind is str or kind is float or value is None or kind is bool or kind is bytes:
        return value
    if kind is int and -(1 << 63) <= value < 1 << 64:
        return value
    _check(value, what)
    return _tag_pids(value)


def encode(frame: Frame) -> bytes:
    """Encode one frame (payloads must already be checked by ``encode_payload_check``).

    Args:
        frame (Frame): The frame to encode.

    Returns:
        Its msgpack bytes.
    """
    return _ENCODER.encode(frame)


def decode(data: bytes | memoryview) -> Frame:
    """Decode one frame.

    Args:
        data (bytes | memoryview): One frame's bytes.

    Returns:
        The frame.

    Raises:
        msgspec.DecodeError: If ``data`` is not a frame (the caller logs and drops it).
    """
    return _DECODER.decode(data)
