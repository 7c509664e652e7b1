"""The cluster_fanout example: a coordinator by group-wide name, workers in a spanning group,
fan-out to every node, and a survivor taking the name over when the holder's node is lost."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

import actors
import helpers
import registry
from actors.cluster import MemoryNetwork, open_node_group, spanning_groups

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "examples" / "cluster_fanout"


def fields(line: str) -> dict[str, str]:
    return dict(re.findall(r"(\w+)=(\S+)", line))


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "app.fanout"]


def rounds(lines: list[str]) -> list[dict[str, str]]:
    return [fields(x) for x in lines if x.startswith("Round ")]


def _module() -> Any:
    sys.path.insert(0, str(APP / "src"))
    try:
        import fanout  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    return fanout


class TestVirtualTime:
    async def test_fan_out_then_failover_then_heal(self, caplog: pytest.LogCaptureFixture) -> None:
        """Three nodes agree on one coordinator and every round reaches the six workers of the
        three nodes. The holder's node is lost: the two others elect one of them and their
        rounds reach their four workers. The partition heals: the older registration keeps the
        name, the other coordinator steps down, rounds reach six workers again."""
        caplog.set_level(logging.INFO)
        network = MemoryNetwork()
        async with (
            actors.open_node(name="a") as a,
            open_node_group(a, network.transport("a")) as ga,
            actors.open_node(name="b") as b,
            open_node_group(b, network.transport("b")) as gb,
            actors.open_node(name="c") as c,
            open_node_group(c, network.transport("c")) as gc,
        ):
            for node in (a, b, c):
                await registry.boot_app(node, APP)
            await trio.sleep(3.5)
            holder = ga.names.whereis("coordinator")
            assert holder is not None
            assert gb.names.whereis("coordinator") == gc.names.whereis("coordinator") == holder
            before = rounds(messages(caplog))
            assert len(before) >= 2
            assert all(r["nodes"] == "a,b,c" and r["gathered"] == "6/6" for r in before)
            members = spanning_groups(a).members("workers")
            assert sorted(str(pid.node) for pid in members) == ["a", "a", "b", "b", "c", "c"]
            assert {r["coordinator"] for r in before} == {holder.node}

            caplog.clear()
            network.cut(str(holder.node))
            await trio.sleep(3.5)
            survivors = sorted({"a", "b", "c"} - {holder.node})
            groups = {"a": ga, "b": gb, "c": gc}
            nodes = {"a": a, "b": b, "c": c}
            for name in survivors:  # the lost node's workers left the group on the survivors
                left = spanning_groups(nodes[name]).members("workers")
                assert sorted(str(pid.node) for pid in left) == sorted(survivors * 2)
            new = groups[survivors[0]].names.whereis("coordinator")
            assert new is not None and new.node in survivors
            assert groups[survivors[1]].names.whereis("coordinator") == new
            lines = messages(caplog)
            assert f"Coordinator elected node={new.node} pid={new}" in [
                " ".join(x.split()) for x in lines
            ]
            mine = [r for r in rounds(lines) if r["coordinator"] == new.node]
            assert len(mine) >= 2
            assert all(r["nodes"] == ",".join(survivors) and r["gathered"] == "4/4" for r in mine)
            alone = [r for r in rounds(lines) if r["coordinator"] == holder.node]
            assert all(r["nodes"] == holder.node and r["members"] == "2" for r in alone)

            caplog.clear()
            network.heal(str(holder.node))
            await trio.sleep(3.5)
            assert {g.names.whereis("coordinator") for g in groups.values()} == {holder}
            lines = messages(caplog)
            assert any(x.startswith("Coordinator lost the name") for x in lines)
            last = rounds(lines)[-1]
            assert last["nodes"] == "a,b,c" and last["gathered"] == "6/6"
            assert last["coordinator"] == holder.node

    async def test_alone_it_says_how_to_run_it(self, caplog: pytest.LogCaptureFixture) -> None:
        """Without a node group the coordinator says to use --workers and waits for its stop."""
        caplog.set_level(logging.INFO)
        async with actors.open_node() as node:
            await registry.boot_app(node, APP)
            await trio.sleep(2)
        lines = messages(caplog)
        assert lines == ['Not in a node group hint="run it with: actors run DIR --workers 3"']

    def test_count_primes(self) -> None:
        """The segmented sieve agrees with trial division, including range edges."""
        count_primes = _module().count_primes

        def slow(lo: int, hi: int) -> int:
            return sum(
                1 for n in range(max(lo, 2), hi) if all(n % d for d in range(2, int(n**0.5) + 1))
            )

        for lo, hi in [(0, 100), (0, 2), (2, 3), (90, 97), (97, 98), (1000, 1500), (10, 5)]:
            assert count_primes(lo, hi) == slow(lo, hi), (lo, hi)
        assert count_primes(0, 200_000) == 17984


@pytest.mark.slow
class TestCommandLine:
    def test_three_workers_fan_out_and_ctrl_c(self) -> None:
        """``--workers 3``: rounds gather from all three nodes; Ctrl+C stops them all, exit 0."""

        def everywhere(lines: list[str]) -> bool:
            return sum("Round " in x and "nodes=w1,w2,w3" in x for x in lines) >= 2

        code, lines = helpers.run_app_until(
            APP,
            everywhere,
            args=["--workers", "3", "--grace", "3"],
            env={"ROUND_EVERY": "300ms"},
            timeout=60,
        )
        text = "\n".join(lines)
        assert code == 0, text
        assert "Traceback" not in text
        full = [fields(x) for x in lines if "Round " in x and "nodes=w1,w2,w3" in x]
        assert all(r["gathered"] == "6/6" and r["members"] == "6" for r in full), text
        assert len({r["coordinator"] for r in full}) == 1, text
        assert re.search(r"Workers stopped +clean=true", text), text
