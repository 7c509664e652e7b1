"""``actors names``, ``groups`` and ``pools`` over real sockets: two nodes of an in-memory node
group in this process, each serving its endpoint (on the real clock: the blocking client runs
in a thread); and the command line's checks of ``GROUP`` and ``--limit``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import actors
from actors._control._directory import GROUP_NAME, GroupsRequest
from actors._control._protocol import FrameError, decode_request, frame
from actors.cluster import MemoryNetwork, open_node_group, spanning_groups
from actors.lowlevel import open_control_endpoint
from registry._cli import main


async def idle(proc: actors.Process) -> None:
    await proc.events.receive()


async def until(predicate: Callable[[], object]) -> None:
    """Wait for gossip between the two nodes (real clock: poll)."""
    with trio.fail_after(10):
        while not predicate():  # noqa: ASYNC110
            await trio.sleep(0.01)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.real_time
async def test_names_groups_pools_of_two_nodes(capsys: pytest.CaptureFixture[str]) -> None:
    network = MemoryNetwork()
    async with (
        actors.open_node(name="a", shutdown_grace=0.1) as a,
        open_node_group(a, network.transport("a")) as ga,
        actors.open_node(name="b", shutdown_grace=0.1) as b,
        open_node_group(b, network.transport("b")) as gb,
        open_control_endpoint(a),
        open_control_endpoint(b),
    ):
        holder = a.spawn(idle, name="keeper")
        ga.names.register("db", holder)
        spanning_groups(a).join("jobs", holder)
        spanning_groups(b).join("jobs", b.spawn(idle))
        actors.groups(b).join("local-b", b.spawn(idle))
        actors.start_pool(b, idle, size=2, name="crunch")
        await until(lambda: gb.names.whereis("db") and spanning_groups(a).member_count("jobs") == 2)

        def ask(*argv: str) -> tuple[int, str, str]:
            return run(capsys, *argv)

        code, out, err = await trio.to_thread.run_sync(ask, "names", "--all")
        assert code == 0, err
        assert out.count("db ") == 1  # both replicas hold it: listed once
        assert [line.split()[:3] for line in out.splitlines() if line.startswith("db")] == [
            ["db", "group", "a"]
        ]
        assert "keeper  local  a" in out and "crunch" in out
        code, out, err = await trio.to_thread.run_sync(ask, "names")  # two nodes, no choice
        assert code == 0 and "2 nodes are running (pick one with --node NAME" in err
        code, out, _ = await trio.to_thread.run_sync(ask, "names", "--node", "b", "--json")
        reply = json.loads(out)
        assert reply["node"] == "b" and reply["group_total"] == 1
        code, out, _ = await trio.to_thread.run_sync(ask, "groups", "--all")
        lines = [line.split() for line in out.splitlines()]
        assert lines[0] == ["GROUP", "SCOPE", "NODE", "MEMBERS", "WATCHERS"]
        assert ["jobs", "spanning", "*", "2", "0"] in lines
        assert ["local-b", "local", "b", "1", "0"] in lines
        assert sum(line[0] == "jobs" for line in lines) == 1
        code, out, _ = await trio.to_thread.run_sync(ask, "groups", "jobs", "--all")
        assert out.splitlines()[0] == "group jobs" and len(out.splitlines()) == 4
        assert "keeper" in out  # a filled in its own member
        code, out, _ = await trio.to_thread.run_sync(ask, "pools", "--node", "b", "--json")
        (pool,) = json.loads(out)["rows"]
        assert (pool["name"], pool["size"], pool["live"]) == ("crunch", 2, 2)
        code, out, _ = await trio.to_thread.run_sync(ask, "pools", "--node", "a")
        assert code == 0 and out == "(no pools)\n"
        code, out, _ = await trio.to_thread.run_sync(ask, "info", "--node", "a", "keeper")
        assert "global     db@*" in out and "spanning   jobs" in out


def test_no_node_is_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("names", "groups", "pools"):
        code, _, err = run(capsys, command)
        assert code == 1 and err.startswith(f"actors {command}: no node running")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.text(max_size=300))
def test_group_argument_is_bounded(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Any GROUP: 1-255 characters asks the node (none here: exit 1); else exit 2 with a line
    naming the argument, never a traceback. The node refuses an oversized one too."""
    where = str(tmp_path / "none.sock")
    try:
        code = main(["groups", "--socket", where, "--", name])
    except SystemExit as stop:
        code = int(stop.code or 0)
    err = capsys.readouterr().err
    if 1 <= len(name) <= GROUP_NAME:
        assert code == 1 and err.startswith("actors groups: ") and "Traceback" not in err
        assert isinstance(decode_request(frame(GroupsRequest(name))[4:]), GroupsRequest)
    else:
        assert code == 2 and "argument GROUP: GROUP must be 1-255 characters" in err
        with pytest.raises(FrameError, match="group"):
            decode_request(frame(GroupsRequest(name))[4:])


@pytest.mark.parametrize("limit", ["0", "10001", "x"])
def test_limit_is_bounded(limit: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["names", "--limit", limit])
    assert stop.value.code == 2 and "--limit" in capsys.readouterr().err
