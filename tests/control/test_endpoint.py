"""The control endpoint in-process: frames, limits, bad input, permissions, stale sockets.

These talk to a real Unix socket from a thread (the blocking client), so they run on the real
clock: under an autojump clock the server's idle timeout would jump while the thread waits.
"""

from __future__ import annotations

import os
import socket
import stat
import struct
from pathlib import Path

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import actors
from actors._control._client import Connection, choose, choose_one
from actors._control._protocol import (
    MAX_REQUEST,
    ErrorReply,
    InfoReply,
    InfoRequest,
    PsReply,
    PsRequest,
    StatsReply,
    StatsRequest,
    decode_reply,
)
from actors.lowlevel import ControlError, control_socket_path, open_control_endpoint

pytestmark = pytest.mark.real_time


async def worker(proc: actors.Process) -> None:
    proc.listen("side.*")
    while True:
        got = await actors.select(proc.events, proc.inbox)
        if got.source is proc.events:
            return


def _raw(path: Path, data: bytes) -> bytes:
    """Send raw bytes, return the raw reply body (or b'' when the node closed at once)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        chunks = []
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, BrokenPipeError):
            pass  # closed after an oversized frame, with our bytes unread: a reset

    reply = b"".join(chunks)
    return reply[4:] if reply else b""


@pytest.fixture
def sock_path(tmp_path: Path) -> Path:
    return tmp_path / "c" / "node.sock"


async def test_ps_info_stats_over_the_socket(sock_path: Path) -> None:
    async with actors.open_node(name="n1", shutdown_grace=0.1) as node:
        pid = node.spawn(worker, name="w")
        await trio.testing.wait_all_tasks_blocked()
        for i in range(3):
            node.send(pid, "side.x", i)  # queued in a listen queue: the worker reads the inbox
        async with open_control_endpoint(node, sock_path):
            assert stat.S_IMODE(os.stat(sock_path).st_mode) == 0o600
            assert stat.S_IMODE(os.stat(sock_path.parent).st_mode) == 0o700

            def ask() -> tuple[object, ...]:
                with Connection(sock_path) as conn:
                    return (
                        conn.ask(PsRequest(sort="mq", limit=5, cpu=True)),
                        conn.ask(InfoRequest(pid="w")),
                        conn.ask(StatsRequest()),
                    )

            ps, info, stats = await trio.to_thread.run_sync(ask)
        assert not await trio.to_thread.run_sync(os.path.exists, sock_path)
    assert isinstance(ps, PsReply) and isinstance(info, InfoReply)
    assert isinstance(stats, StatsReply)
    assert ps.total == 1 and ps.cpu_sampling and ps.node == "n1"
    row = ps.rows[0]
    assert (row.pid, row.name, row.listened, row.state) == (
        str(pid),
        "w",
        3,
        "select inbox, events",
    )
    assert info.names == ["w"]
    assert [q.name for q in info.queues] == ["inbox", "events", "listen:side.*"]
    assert any("in worker" in frame for frame in info.stack)
    assert stats.processes == 1 and stats.queued == 3


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(junk=st.binary(max_size=300))
def test_any_bytes_get_an_error_or_nothing_and_the_node_lives(tmp_path: Path, junk: bytes) -> None:
    path = tmp_path / "j.sock"

    async def main() -> None:
        async with actors.open_node(shutdown_grace=0.1) as node:
            pid = node.spawn(worker)
            async with open_control_endpoint(node, path):
                framed = struct.pack(">I", len(junk)) + junk
                for data in (junk, framed):
                    body = await trio.to_thread.run_sync(_raw, path, data)
                    if body:
                        reply = decode_reply(body)
                        assert isinstance(reply, ErrorReply | PsReply | InfoReply | StatsReply)
                ps = await trio.to_thread.run_sync(_raw, path, _frame(PsRequest()))
                assert isinstance(decode_reply(ps), PsReply)
            assert node.is_alive(pid)

    trio.run(main)


def _frame(request: object) -> bytes:
    from actors._control._protocol import frame

    return frame(request)  # type: ignore[arg-type]


async def test_bad_requests_are_answered_with_an_error(sock_path: Path) -> None:
    import msgspec

    async with (
        actors.open_node(shutdown_grace=0.1) as node,
        open_control_endpoint(node, sock_path),
    ):
        unknown = msgspec.msgpack.encode({"type": "exec", "code": "import os"})
        big_limit = msgspec.msgpack.encode({"type": "ps", "limit": 10**9})
        extra = msgspec.msgpack.encode({"type": "ps", "shell": "rm"})
        for body, says in (
            (unknown, "bad request"),
            (big_limit, "limit"),
            (extra, "shell"),
        ):
            raw = await trio.to_thread.run_sync(
                _raw, sock_path, struct.pack(">I", len(body)) + body
            )
            reply = decode_reply(raw)
            assert isinstance(reply, ErrorReply) and says in reply.message
        oversized = struct.pack(">I", MAX_REQUEST + 1)
        reply = decode_reply(await trio.to_thread.run_sync(_raw, sock_path, oversized))
        assert isinstance(reply, ErrorReply) and "larger than the limit" in reply.message

        def missing() -> None:
            with Connection(sock_path) as conn:
                conn.ask(InfoRequest(pid="{main|0x00099}"))

        with pytest.raises(ControlError, match="no live process"):
            await trio.to_thread.run_sync(missing)


async def test_a_slow_client_is_cut_off_and_blocks_nobody(
    sock_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that sends a length prefix and never the body is dropped after FRAME_TIMEOUT;
    meanwhile other clients are answered."""
    from actors._control import _server

    monkeypatch.setattr(_server, "FRAME_TIMEOUT", 0.3)
    async with (
        actors.open_node(shutdown_grace=0.1) as node,
        open_control_endpoint(node, sock_path),
    ):

        def stall() -> bytes:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(5)
                sock.connect(str(sock_path))
                sock.sendall(struct.pack(">I", 1000) + b"\x81")  # 1 of 1000 bytes
                with Connection(sock_path) as other:  # answered while this one stalls
                    assert isinstance(other.ask(PsRequest()), PsReply)
                return sock.recv(100)  # b"": the node closed the connection

        assert await trio.to_thread.run_sync(stall) == b""


async def test_peer_of_another_user_is_refused(
    sock_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SO_PEERCRED says who connects: our own uid is served, another user's is refused."""
    from actors._control import _server

    seen: list[int | None] = []
    real = _server.peer_uid

    def spy(sock: object) -> int | None:
        seen.append(real(sock))  # type: ignore[arg-type]
        return seen[-1]

    monkeypatch.setattr(_server, "peer_uid", spy)
    async with (
        actors.open_node(shutdown_grace=0.1) as node,
        open_control_endpoint(node, sock_path),
    ):
        ok = await trio.to_thread.run_sync(_raw, sock_path, _frame(PsRequest()))
        assert isinstance(decode_reply(ok), PsReply)
        if hasattr(socket, "SO_PEERCRED"):
            assert seen == [os.getuid()]
        monkeypatch.setattr(_server, "peer_uid", lambda sock: os.getuid() + 1)
        refused = decode_reply(await trio.to_thread.run_sync(_raw, sock_path, _frame(PsRequest())))
        assert isinstance(refused, ErrorReply) and "may not use this node" in refused.message


async def test_huge_length_prefix_is_refused_at_once(sock_path: Path) -> None:
    """A 4 GiB length prefix is answered with an error; nothing is read or allocated."""
    async with (
        actors.open_node(shutdown_grace=0.1) as node,
        open_control_endpoint(node, sock_path),
    ):
        body = await trio.to_thread.run_sync(_raw, sock_path, b"\xff\xff\xff\xff")
        reply = decode_reply(body)
        assert isinstance(reply, ErrorReply)
        assert "frame of 4294967295 bytes is larger than the limit" in reply.message


async def test_send_and_call_only_when_allowed(sock_path: Path) -> None:
    """An embedded node is query-only unless it opts in; then JSON payloads are delivered."""
    from actors._control._protocol import CallReply, CallRequest, OkReply, SendRequest

    async def echo(proc: actors.Process) -> None:
        while True:
            msg = await proc.inbox.receive()
            if msg.reply_to is not None:
                proc.reply(msg, {"got": msg.payload})

    for allowed in (False, True):
        async with (
            actors.open_node(shutdown_grace=0.1) as node,
            open_control_endpoint(node, sock_path, allow_send=allowed),
        ):
            node.spawn(echo, name="echo")

            def poke() -> list[object]:
                with Connection(sock_path) as conn:
                    replies = []
                    for request in (
                        SendRequest("echo", "note", '{"a": [1, 2]}'),
                        CallRequest("echo", "ask", '"hi"'),
                    ):
                        try:
                            replies.append(conn.ask(request))
                        except ControlError as error:
                            replies.append(str(error))
                    return replies

            sent, called = await trio.to_thread.run_sync(poke)
        if allowed:
            assert isinstance(sent, OkReply) and isinstance(called, CallReply)
            assert called.result == '{"got":"hi"}'
        else:
            assert sent == called and "does not allow send/call" in str(sent)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=st.text(max_size=200) | st.recursive(st.none() | st.integers(), st.lists))
def test_any_payload_is_delivered_or_refused(tmp_path: Path, payload: object) -> None:
    """Arbitrary text (or deeply nested JSON) as a payload: delivered as plain values, or an
    error naming the JSON problem; the node and the target live on."""
    import json

    from actors._control._poke import send
    from actors._control._protocol import ErrorReply as Error
    from actors._control._protocol import OkReply, SendRequest

    text = payload if isinstance(payload, str) else json.dumps(payload)

    async def main() -> None:
        async with actors.open_node(shutdown_grace=0.1) as node:
            pid = node.spawn(worker, name="w")
            reply = send(node, SendRequest("w", "t", text), True)
            try:
                json.loads(text, parse_constant=_no_constants)  # JSON proper: no NaN
            except ValueError:
                assert isinstance(reply, Error) and "not valid JSON" in reply.message
            else:
                assert isinstance(reply, OkReply), reply
            assert node.is_alive(pid)

    trio.run(main)


def _no_constants(name: str) -> object:
    raise ValueError(name)


async def test_stale_socket_is_replaced_and_a_live_one_refused(sock_path: Path) -> None:
    sock_path.parent.mkdir(mode=0o755)  # too open: the endpoint closes it to 0700
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock_path))
    stale.close()  # the file stays, nobody listens: what a killed node leaves
    with pytest.raises(ControlError, match="stale control socket"):
        Connection(sock_path)
    async with (
        actors.open_node(shutdown_grace=0.1) as node,
        open_control_endpoint(node, sock_path),
    ):
        assert stat.S_IMODE(os.stat(sock_path.parent).st_mode) == 0o700
        with pytest.raises(ControlError, match="another node is running"):
            async with open_control_endpoint(node, sock_path):
                pass
    assert not await trio.to_thread.run_sync(os.path.exists, sock_path.parent)  # left no trace
    os.makedirs(sock_path.parent, mode=0o700)
    os.close(os.open(sock_path, os.O_CREAT | os.O_WRONLY, 0o600))  # a plain file in the way
    async with actors.open_node(shutdown_grace=0.1) as node:
        with pytest.raises(ControlError, match="is not a socket"):
            async with open_control_endpoint(node, sock_path):
                pass
        with pytest.raises(ControlError, match="too long"):
            async with open_control_endpoint(node, sock_path.parent / ("x" * 120)):
                pass


def test_clear_client_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sock_path: Path, runtime: Path
) -> None:
    with pytest.raises(ControlError, match=f"no node running: none is registered in {runtime}"):
        choose()
    with pytest.raises(ControlError, match="no node running for the app in"):
        choose(app=str(tmp_path))
    with pytest.raises(ControlError, match="does not exist"):
        Connection(tmp_path / "none.sock")
    app_sock = control_socket_path(tmp_path)
    assert app_sock.parent == runtime and app_sock.name.startswith(tmp_path.name[:24])
    assert control_socket_path(tmp_path, "w1") != app_sock  # a node of a group: its own

    def denied(self: socket.socket, address: object) -> None:
        raise PermissionError(13, "Permission denied")

    sock_path.parent.mkdir()
    sock_path.touch()
    monkeypatch.setattr(socket.socket, "connect", denied)
    with pytest.raises(
        ControlError, match=rf"permission denied on .*\(you are user id {os.getuid()}\)"
    ):
        Connection(sock_path)


async def test_nodes_register_and_are_found(tmp_path: Path, runtime: Path) -> None:
    """Each endpoint registers itself; one is chosen, several are listed, --node/--app pick."""
    app = tmp_path / "shop"
    async with (
        actors.open_node(shutdown_grace=0.1, name="w1") as one,
        open_control_endpoint(one, app=app, allow_send=True) as first,
    ):
        assert stat.S_IMODE(os.stat(runtime).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(first.path).st_mode) == 0o600
        entry = await trio.to_thread.run_sync(choose_one)
        assert (entry.node, entry.app, entry.pid, entry.send) == ("w1", str(app), os.getpid(), True)
        async with (
            actors.open_node(shutdown_grace=0.1, name="w2") as two,
            open_control_endpoint(two, app=app),
        ):
            with pytest.raises(ControlError, match="2 nodes are running; pick one with --node"):
                await trio.to_thread.run_sync(choose_one)
            assert [e.label for e in await trio.to_thread.run_sync(choose)] == ["w1", "w2"]
            picked = await trio.to_thread.run_sync(lambda: choose_one(node="w2"))
            assert picked.send is False  # embedded: query-only unless it opts in
            by_app = await trio.to_thread.run_sync(lambda: choose(app=str(app)))
            assert len(by_app) == 2
            with pytest.raises(ControlError, match="no node running for node 'w3'"):
                await trio.to_thread.run_sync(lambda: choose(node="w3"))
        assert [e.label for e in await trio.to_thread.run_sync(choose)] == ["w1"]
    assert os.listdir(runtime) == []  # both removed what they made


def test_stale_entries_are_cleaned(runtime: Path) -> None:
    """An entry whose node died (its pid gone, or nobody on its socket) is removed on sight."""
    from actors._control._runtime import NodeEntry, register

    runtime.mkdir(mode=0o700)
    dead = dead_pid()
    register(NodeEntry(str(runtime / "a.sock"), "a", "", dead, 0.0), runtime, "a")
    (runtime / "a.sock").touch()
    register(NodeEntry(str(runtime / "b.sock"), "b", "", os.getpid(), 0.0), runtime, "b")
    (runtime / "junk.json").write_text("{not json")
    with pytest.raises(ControlError, match="no node running"):
        choose()
    assert sorted(p.name for p in runtime.iterdir()) == ["junk.json"]  # not ours: left alone


def dead_pid() -> int:
    """The pid of a child that has exited and been reaped."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


@pytest.mark.parametrize("problem", ["other-modes", "symlink", "file"])
def test_unsafe_runtime_folder_is_refused(runtime: Path, problem: str) -> None:
    """A runtime folder open to others, a symlink or a file is refused, with what to do."""
    from actors._control._runtime import runtime_dir

    if problem == "other-modes":
        runtime.mkdir(mode=0o755)
        runtime.chmod(0o755)
        needle = "mode 0755 lets others in; run `chmod 700"
    elif problem == "symlink":
        (runtime.parent / "real").mkdir(mode=0o700)
        runtime.symlink_to(runtime.parent / "real")
        needle = "not a real folder"
    else:
        runtime.write_text("")
        needle = "not a real folder"
    with pytest.raises(ControlError, match=needle):
        runtime_dir(create=True)
    with pytest.raises(ControlError, match=needle):
        choose()


def test_runtime_folder_fallbacks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """$XDG_RUNTIME_DIR/actors, else <temp dir>/actors-<uid> (made 0700)."""
    from actors._control._runtime import runtime_dir

    monkeypatch.delenv("ACTORS_RUNTIME_DIR")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert runtime_dir() == tmp_path / "actors"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    folder = runtime_dir(create=True)
    assert folder == tmp_path / "tmp" / f"actors-{os.getuid()}"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


async def test_metrics_without_the_extra_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from actors.lowlevel import serve_metrics

    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # as if not installed
    async with actors.open_node(shutdown_grace=0.1) as node:
        with pytest.raises(ControlError, match=r"pip install 'actors\[metrics\]'"):
            await serve_metrics(node, 0)
        monkeypatch.delitem(sys.modules, "prometheus_client")
        pytest.importorskip("prometheus_client")
        with pytest.raises(ControlError, match="loopback"):
            await serve_metrics(node, 0, host="0.0.0.0")


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=5000) | st.text(max_size=300).map(str.encode))
def test_any_entry_file_is_read_or_skipped(tmp_path: Path, data: bytes) -> None:
    """A registration file with any content is an entry or None, never an exception."""
    from actors._control._runtime import NodeEntry, read_entry

    path = tmp_path / "x.json"
    path.write_bytes(data)
    entry = read_entry(path)
    assert entry is None or isinstance(entry, NodeEntry)


@settings(max_examples=200, deadline=None)
@given(app=st.text(max_size=300), node=st.text(max_size=300), pid=st.integers(0, 2**31))
def test_entry_ids_are_safe_file_names(app: str, node: str, pid: int) -> None:
    """Whatever the app folder and node name, the id is a short plain file name."""
    from actors._control._runtime import entry_id

    stem = entry_id(app, node, pid)
    assert 11 <= len(stem) <= 35 and not stem.startswith(".")
    assert all(c.isascii() and (c.isalnum() or c in "-_.") for c in stem)
    assert entry_id(app, node, pid) == stem
