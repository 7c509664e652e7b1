"""``actors send``, ``call`` and ``state`` on the node's side.

Payloads arrive as JSON text and are decoded with msgspec into plain values (dicts, lists,
strings, numbers, booleans, None): nothing the client sends is run. ``send`` and ``call`` are
refused unless the node allows them (``open_control_endpoint(allow_send=True)``, which
``actors run`` passes). ``state`` asks a Server's ``format_state()`` hook (its attributes by
default) and shows the result with bounded ``repr``s.
"""

from __future__ import annotations

import reprlib
from typing import Any

import msgspec

from .._core._exceptions import CallFailed, CallTimeout, ProcessNotFound
from .._core._node import Node
from .._core._process import Process
from ._protocol import (
    MAX_RESULT,
    CallReply,
    CallRequest,
    ErrorReply,
    OkReply,
    SendRequest,
    StateReply,
    StateRequest,
)
from ._snapshot import find, missing
from ._tree import Describe, _no_names, qualified, server_of

_json = msgspec.json.Decoder()
_REPR = reprlib.Repr()
_REPR.maxlevel = 4
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = _REPR.maxset = 50
_REPR.maxstring = _REPR.maxother = 500

REFUSED = (
    "this node does not allow send/call from the control endpoint (an embedded node opts in "
    "with open_control_endpoint(..., allow_send=True); `actors run` allows them)"
)


def _payload(text: str) -> Any:
    try:
        return _json.decode(text)
    except msgspec.DecodeError as error:
        raise ValueError(f"the payload is not valid JSON: {error}") from None


def _target(node: Node, dest: str, *, local: bool = False) -> Process:
    """The process ``dest`` names (another node's too, unless ``local``: sends and calls
    reach it through the node group; a Server's state is read on its own node)."""
    try:
        return find(node, dest, local=local)
    except ProcessNotFound as error:
        raise ValueError(missing(dest, error)) from None


def send(node: Node, request: SendRequest, allowed: bool) -> OkReply | ErrorReply:
    """Deliver the message (sender None); an error reply names what is wrong."""
    if not allowed:
        return ErrorReply(REFUSED)
    try:
        payload = _payload(request.payload)
        proc = _target(node, request.dest)
        node.send(proc.pid, request.topic, payload)
    except ValueError as error:
        return ErrorReply(str(error))
    return OkReply(f"sent {request.topic!r} to {proc.pid}")


async def call(node: Node, request: CallRequest, allowed: bool) -> CallReply | ErrorReply:
    """Call the process and return its reply as JSON text."""
    if not allowed:
        return ErrorReply(REFUSED)
    try:
        payload = _payload(request.payload)
        proc = _target(node, request.dest)
        result = await node.call(proc.pid, request.topic, payload, timeout=request.timeout)
    except ValueError as error:
        return ErrorReply(str(error))
    except CallTimeout:
        return ErrorReply(f"no reply from {request.dest} within {request.timeout:g} s")
    except CallFailed as error:
        return ErrorReply(str(error))
    text = msgspec.json.encode(result, enc_hook=_REPR.repr)
    if len(text) > MAX_RESULT:
        return ErrorReply(f"the reply is {len(text):,} bytes of JSON; the limit is {MAX_RESULT:,}")
    return CallReply(text.decode())


def state(
    node: Node, request: StateRequest, describe: Describe = _no_names
) -> StateReply | ErrorReply:
    """The Server's ``format_state()``, as (attribute, repr) pairs cut to ``request.size``."""
    try:
        proc = _target(node, request.dest, local=True)
    except ValueError as error:
        return ErrorReply(str(error))
    server = server_of(proc)
    if server is None:
        return ErrorReply(
            f"{proc.pid} is not a Server: `actors state` shows the state of Server processes "
            "(`actors info` shows any process)"
        )
    kind = describe(type(server)) or qualified(type(server))
    try:
        shown = server.format_state()
    except Exception as error:  # the server's own hook: report, never raise into the node
        return ErrorReply(f"{kind}.format_state() raised {error!r}")
    items = (
        [(str(key), _REPR.repr(value)) for key, value in shown.items()]
        if isinstance(shown, dict)
        else [("", _REPR.repr(shown))]
    )
    kept: list[tuple[str, str]] = []
    budget, cut = request.size, 0
    for key, text in items:
        size = len(key) + len(text)
        if budget <= 0:
            cut += size
            continue
        if size > budget:
            cut += size - budget
            text = text[: max(budget - len(key), 0)] + "…"
        budget -= size
        kept.append((key, text))
    return StateReply(str(proc.pid), kind, kept, cut)
