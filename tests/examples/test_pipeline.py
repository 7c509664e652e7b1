"""The pipeline example: four linked stages, each knowing only the next; a summary comes back."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import actors
import programs
import registry

APP = programs.EXAMPLES / "pipeline"


async def test_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """10 good lines counted by type and user, the malformed one dropped, max severity 4."""
    assert await programs.exec_program(APP) == 0
    out = capsys.readouterr().out
    summary = out.split("=== Summary ===\n", 1)[1]
    assert summary.startswith("Total events: 10\nMax severity: 4\nDropped (malformed): 1\n")
    by_type = summary.split("By event type:\n")[1].split("\n\n")[0].splitlines()
    assert by_type == [
        "  user.login: 3",
        "  user.failed_login: 2",
        "  page.view: 2",
        "  payment.failed: 1",
        "  cache.miss: 1",
        "  disk.full: 1",
    ]
    by_user = summary.split("By user:\n")[1].split("\n\n")[0].splitlines()
    assert by_user == ["  alice: 4", "  bob: 3", "  charlie: 2", "  system: 1"]


async def test_each_stage_forwards_done_and_exits() -> None:
    """After the run every stage has returned its count; only the app's manager is left."""
    exits: list[actors.Exit] = []
    async with actors.open_node() as node:
        app = await registry.boot_app(node, APP)
        node.watch_exits(exits.append)
        assert await node.exec(app.process("app:cli")) == 0
        await trio.testing.wait_all_tasks_blocked()
        assert node.processes(host="app:processes") == []
    stages = [e for e in exits if e.pid.host == "app:processes"]
    assert sorted(e.result for e in stages) == [10, 10, 10, 10]  # transformer..aggregator; parser
    assert all(e.error is None for e in stages)


async def test_a_crashing_stage_fails_the_program() -> None:
    """Stages are linked to the program: a stage crash ends it with LinkedProcessFailed."""
    async with actors.open_node() as node:
        app = await registry.boot_app(node, APP)
        parser = app.process("app:parser")

        async def program(proc: actors.Process) -> None:
            sink = proc.spawn_linked(app.process("app:aggregator"))
            first = proc.spawn_linked(parser, sink)
            proc.send(first, "raw_line", 42)  # not a string: the parser raises
            await proc.sleep(10)

        with pytest.raises(actors.LinkedProcessFailed):
            await node.exec(program)


@pytest.mark.slow
def test_actors_run_x() -> None:
    """``actors run examples/pipeline -x app:cli``: exit 0; the dropped line is logged."""
    done = programs.run_program(APP)
    assert programs.clean_exit(done), done.stderr
    assert "Total events: 10\n" in done.stdout
    assert 'Malformed line     line="not a log line"' in done.stderr
