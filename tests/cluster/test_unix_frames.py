"""The Unix transport's framing on real sockets, byte by byte, on virtual time.

A fake peer (a plain Unix socket that says hello) writes crafted bytes to a serving
``UnixTransport`` whose handler records what arrives. Each write lands in the kernel at
once, so ``wait_all_tasks_blocked`` returns only after the reader has taken it: where
reads split the stream is chosen by the test, not by timing.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st
from trio.testing import wait_all_tasks_blocked

from actors.cluster import NodeDownReason, UnixTransport


def frame(kind: int, body: bytes) -> bytes:
    return (len(body) + 1).to_bytes(4, "big") + bytes([kind]) + body


def data(body: bytes) -> bytes:
    return frame(0, body)


class Recorder:
    """A FrameHandler that notes everything, with the trio time of each loss."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.up: list[str] = []
        self.down: list[tuple[str, str, NodeDownReason, float]] = []

    def frame_received(self, peer: str, data: bytes) -> None:
        assert peer == "zz"
        assert type(data) is bytes  # never a view of the reader's reused buffer
        self.frames.append(data)

    def peer_up(self, peer: str) -> None:
        self.up.append(peer)

    def peer_down(
        self, peer: str, why: str, reason: NodeDownReason = NodeDownReason.CONNECTION_LOST
    ) -> None:
        self.down.append((peer, why, reason, trio.current_time()))


@asynccontextmanager
async def serving(
    directory: Path, **options: Any
) -> AsyncIterator[tuple[UnixTransport, Recorder, trio.SocketStream]]:
    """Serve node ``n1`` in ``directory``; yield it, its recorder and a connected peer ``zz``."""
    transport = UnixTransport(directory, "n1", **options)
    recorder = Recorder()
    async with trio.open_nursery() as nursery:
        await nursery.start(transport.serve, recorder)
        stream = await trio.open_unix_socket(os.fspath(directory / "n1.sock"))
        async with stream:
            await stream.send_all(frame(2, b"zz"))
            assert await stream.receive_some(7) == frame(2, b"n1")  # its hello
            await wait_all_tasks_blocked()
            assert recorder.up == ["zz"]
            yield transport, recorder, stream
        nursery.cancel_scope.cancel()


async def send_in_pieces(stream: trio.SocketStream, blob: bytes, cuts: list[int]) -> None:
    """Write ``blob`` cut at ``cuts``; the reader takes each piece before the next is written."""
    start = 0
    for cut in [*sorted(set(cuts)), len(blob)]:
        if start < cut <= len(blob):
            await stream.send_all(blob[start:cut])
            await wait_all_tasks_blocked()
            start = cut


async def test_many_frames_in_one_write_arrive_whole_and_in_order(tmp_path: Path) -> None:
    bodies = [bytes([i % 251]) * (i % 97) + i.to_bytes(4, "big") for i in range(3000)]
    blob = b"".join(data(body) for body in bodies)
    assert len(blob) > 2 * 65536  # more than one read: frames straddle the reads' ends
    async with serving(tmp_path) as (_, recorder, stream):
        await stream.send_all(frame(1, b"") + blob + frame(1, b""))  # pings in between
        await wait_all_tasks_blocked()
        assert recorder.frames == bodies
        assert recorder.down == []


async def test_a_frame_split_across_reads_is_handled_once_when_whole(tmp_path: Path) -> None:
    body = b"hello across reads"
    blob = data(body) + data(b"next")
    async with serving(tmp_path) as (_, recorder, stream):
        for i in range(len(data(body)) - 1):  # the size, the kind, the body: byte by byte
            await stream.send_all(blob[i : i + 1])
            await wait_all_tasks_blocked()
            assert recorder.frames == []
        await stream.send_all(blob[len(data(body)) - 1 :])  # its last byte and a whole frame
        await wait_all_tasks_blocked()
        assert recorder.frames == [body, b"next"]


async def test_a_frame_longer_than_one_read_arrives_intact(tmp_path: Path) -> None:
    big = os.urandom(1 << 20)
    async with serving(tmp_path) as (_, recorder, stream):
        await stream.send_all(data(b"before") + data(big) + data(b"after"))
        await wait_all_tasks_blocked()
        assert recorder.frames == [b"before", big, b"after"]


@settings(max_examples=40, deadline=None)
@given(
    bodies=st.lists(st.binary(max_size=300), min_size=1, max_size=30),
    cuts=st.lists(st.integers(min_value=1, max_value=10_000), max_size=12),
)
def test_frames_survive_any_split_of_the_stream(bodies: list[bytes], cuts: list[int]) -> None:
    blob = b"".join(data(body) for body in bodies)

    async def main() -> None:
        with tempfile.TemporaryDirectory(prefix="actors-frames-") as directory:
            async with serving(Path(directory)) as (_, recorder, stream):
                await send_in_pieces(stream, blob, cuts)
                assert recorder.frames == bodies
                assert recorder.down == []

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


@pytest.mark.parametrize("header_only", [True, False])
async def test_a_frame_over_max_frame_ends_the_connection_at_once(
    tmp_path: Path, header_only: bool
) -> None:
    async with serving(tmp_path, max_frame=4096) as (transport, recorder, stream):
        size = (4097 + 1).to_bytes(4, "big")  # the size field alone is enough to refuse it
        await stream.send_all(size if header_only else size + b"\x00" * 5000)
        await wait_all_tasks_blocked()
        assert [d[:3] for d in recorder.down] == [
            ("zz", "frame of 4098 bytes is outside 1..4096", NodeDownReason.CONNECTION_LOST)
        ]
        assert recorder.frames == []
        assert transport.peers() == frozenset()
        assert await stream.receive_some() == b""  # closed by the node


async def test_the_lease_runs_from_the_last_bytes_received(tmp_path: Path) -> None:
    async with serving(tmp_path, heartbeat=1.0, timeout=3.0) as (_, recorder, stream):
        for _ in range(10):  # 20 s of traffic, every 2 s: never 3 s of silence
            await trio.sleep(2.0)
            await stream.send_all(data(b"tick"))
        last = trio.current_time()
        await wait_all_tasks_blocked()
        assert len(recorder.frames) == 10 and recorder.down == []
        await trio.sleep(10)
        [(peer, why, reason, at)] = recorder.down
        assert (peer, why, reason) == ("zz", "no heartbeat for 3s", NodeDownReason.LEASE_EXPIRED)
        assert at == pytest.approx(last + 3.0)


async def test_a_partial_direct_write_is_finished_by_the_writer_in_order(
    tmp_path: Path,
) -> None:
    async with serving(tmp_path, heartbeat=60.0, timeout=120.0) as (transport, _, stream):
        big = os.urandom(4 << 20)  # more than the socket buffer: the direct write is partial
        transport.send("zz", big)
        conn = transport._conns["zz"]
        assert 0 < conn.queued < len(big)  # the rest waits for the writer
        transport.send("zz", b"small")
        expected = data(big) + data(b"small")
        received = bytearray()
        while len(received) < len(expected):
            received += await stream.receive_some(1 << 20)
        assert received == expected


def reference_parse(stream: bytes, max_frame: int) -> tuple[list[bytes], str | None]:
    """What a reader must make of ``stream``: its data frames, and why it ends (None: never)."""
    frames: list[bytes] = []
    at = 0
    while len(stream) - at >= 4:
        size = int.from_bytes(stream[at : at + 4], "big")
        if not 0 < size <= max_frame:
            return frames, f"frame of {size} bytes is outside 1..{max_frame}"
        if at + 4 + size > len(stream):
            break
        kind, body = stream[at + 4], stream[at + 5 : at + 4 + size]
        if kind == 0:
            frames.append(body)
        elif kind == 3:
            return frames, "left the group"
        at += 4 + size
    return frames, None


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=40),  # noise
            st.builds(data, st.binary(max_size=40)),  # well-formed data frames
            st.builds(frame, st.integers(0, 255), st.binary(max_size=10)),  # any kind
        ),
        max_size=8,
    ).map(b"".join)
)
def test_any_bytes_from_a_peer_are_framed_as_specified_or_end_its_connection(
    stream: bytes,
) -> None:
    expected, ends = reference_parse(stream, 4096)

    async def main() -> None:
        with tempfile.TemporaryDirectory(prefix="actors-frames-") as directory:
            async with serving(Path(directory), max_frame=4096) as (transport, recorder, peer):
                await peer.send_all(stream)
                await wait_all_tasks_blocked()
                assert recorder.frames == expected
                if ends is None:
                    assert recorder.down == [] and transport.peers() == {"zz"}
                else:
                    assert [why for _, why, _, _ in recorder.down] == [ends]
                    assert transport.peers() == frozenset()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


async def test_an_answer_goes_out_from_send_itself_when_the_writer_is_idle(
    tmp_path: Path,
) -> None:
    async with serving(tmp_path) as (transport, recorder, stream):
        await stream.send_all(data(b"question"))
        await wait_all_tasks_blocked()
        assert recorder.frames == [b"question"]
        transport.send("zz", b"answer")  # no checkpoint after it: the writer task cannot run
        assert os.read(stream.socket.fileno(), 100) == data(b"answer")
        transport.send("zz", b"then")  # the next one waits for the writer (one write per burst)
        transport.send("zz", b"queued")
        assert transport._conns["zz"].queued == len(data(b"then") + data(b"queued"))
        received = b""
        while len(received) < len(data(b"then") + data(b"queued")):
            received += await stream.receive_some()
        assert received == data(b"then") + data(b"queued")


async def test_the_first_cause_of_a_connection_end_is_kept() -> None:
    """A stopped node continued: its reader finds the lease expired and its writer, in the same
    wake-up, a broken pipe. The ``NodeDown`` says one cause, not the reason of one and the
    text of the other (it said ``reason=lease_expired why=connection failed: ... Broken pipe``)."""
    from typing import cast

    from actors.cluster._unixconn import Conn, Lost

    async def lease() -> None:
        raise Lost("no heartbeat for 0.5s", NodeDownReason.LEASE_EXPIRED)

    async def pipe() -> None:
        raise BrokenPipeError(32, "Broken pipe")

    for first, second in ((lease, pipe), (pipe, lease)):
        conn = Conn("p", cast("Any", None), cast("Any", None), 0.1, 0.5, 1024)
        with trio.CancelScope() as scope:
            await conn._guarded(scope, first())
            await conn._guarded(scope, second())
            conn.note_end("reset", NodeDownReason.CONNECTION_LOST)  # UnixTransport.reset
        if first is lease:
            assert conn.why == "no heartbeat for 0.5s"
            assert conn.reason is NodeDownReason.LEASE_EXPIRED
        else:
            assert conn.why == "connection failed: [Errno 32] Broken pipe"
            assert conn.reason is NodeDownReason.CONNECTION_LOST
