"""The registry_dynamic example: find, three changesets, versions, a refused changeset."""

from __future__ import annotations

import re

import pytest

import programs

APP = programs.EXAMPLES / "registry_dynamic"


def tools_after(out: str, heading: str) -> list[str]:
    """The tool ids listed after ``heading`` (up to the next numbered heading)."""
    block = out.split(heading, 1)[1]
    block = re.split(r"\n\d\) ", block, maxsplit=1)[0]
    return re.findall(r"\[(app:tool\.\w+)\]", block)


async def test_versions_and_tools(capsys: pytest.CaptureFixture[str]) -> None:
    """v1 (the load) -> v2 -> v3 -> v4; each listing is sorted by id; a conflict changes nothing."""
    assert await programs.exec_program(APP) == 0
    out = capsys.readouterr().out
    assert "1) Tools registered in YAML (version v1):" in out
    assert tools_after(out, "1) Tools") == [
        "app:tool.calculator",
        "app:tool.summarizer",
        "app:tool.translator",
    ]
    assert re.findall(r"Registry version: (v\d+)", out) == ["v2", "v3", "v4", "v4"]
    assert tools_after(out, "2) Adding Weather") == [
        "app:tool.calculator",
        "app:tool.summarizer",
        "app:tool.translator",
        "app:tool.weather",
    ]
    assert "app:tool.search" in tools_after(out, "3) Adding Web Search")
    assert tools_after(out, "4) Removing Summarizer") == [
        "app:tool.calculator",
        "app:tool.search",
        "app:tool.translator",
        "app:tool.weather",
    ]
    assert (
        "   changeset not applied: change 2 (delete app:tool.gone): no entry with this id exists"
    ) in out
    assert "Registry version: v4, tools: 4" in out
    assert "6) The first snapshot still sees v1: 3 tools;" in out
    assert "snapshot_at(0) is the registry before the load: 0 entries." in out
    history = re.findall(r"   (v\d): (.+)", out)
    assert history == [
        ("v2", "create app:tool.weather"),
        ("v3", "create app:tool.search"),
        ("v4", "delete app:tool.summarizer"),
    ]


@pytest.mark.slow
def test_actors_run_x() -> None:
    """``actors run examples/registry_dynamic -x app:cli``: exit 0."""
    done = programs.run_program(APP)
    assert programs.clean_exit(done), done.stderr
    assert "   Registry version: v4\n" in done.stdout
