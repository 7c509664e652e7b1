"""The wire format over generated values: plain data crosses intact, anything else is refused."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import actors
from actors.cluster import PayloadError, _wire

pids = st.builds(
    actors.PID,
    st.sampled_from(["main", "app:workers"]),
    st.integers(1, 2**40),
    st.one_of(st.none(), st.sampled_from(["w1", "node-2"])),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.binary(max_size=20),
    pids,
)
keys = st.one_of(st.text(max_size=8), st.integers(-1000, 1000), st.binary(max_size=4))
plain = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(keys, inner, max_size=4),
    ),
    max_leaves=20,
)


def _as_received(value: Any) -> Any:
    """What the other node gets: tuples become lists (PIDs stay PIDs)."""
    if type(value) is actors.PID:
        return value
    if isinstance(value, list | tuple):
        return [_as_received(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_received(v) for k, v in value.items()}
    return value


@settings(max_examples=200, deadline=None)
@given(plain, pids)
def test_plain_data_crosses_intact(value: Any, pid: actors.PID) -> None:
    frame = _wire.Send(pid, "t", _wire.encode_payload_check(value), pid, 3)
    back = _wire.decode(_wire.encode(frame))
    assert isinstance(back, _wire.Send)
    assert back.payload == _as_received(value)
    assert back.to == pid and type(back.to) is actors.PID


@settings(max_examples=100, deadline=None)
@given(
    plain,
    st.sampled_from(
        [
            {1, 2},
            frozenset(),
            object(),
            1j,
            2**70,
            Exception("x"),
            {(1,): 2},
            {actors.PID("main", 1): 1},
            bytearray(b"x"),
        ]
    ),
)
def test_anything_else_is_refused_naming_it(value: Any, bad: Any) -> None:
    with pytest.raises(PayloadError, match="cannot send a payload") as info:
        _wire.encode_payload_check([value, {"k": bad}])
    text = str(info.value)
    assert type(bad).__qualname__ in text or "64 bits" in text or "dict key" in text


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_never_break_the_decoder(data: bytes) -> None:
    import msgspec

    with contextlib.suppress(msgspec.MsgspecError):
        _wire.decode(data)
