"""The chat_room example: rooms by name, members in groups, the transcript from the bus."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import trio

import actors
import helpers
import registry

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "examples" / "chat_room"
TRANSCRIPT = [
    "CHAT [general] alice joined",
    "CHAT [general] bob joined",
    "CHAT [general] carol joined",
    "CHAT [general] alice: hi all",
    "CHAT [general] bob: hey alice",
    "CHAT [random] bob joined",
    "CHAT [general] carol: hello",
    "CHAT [random] bob: first!",
    "CHAT [general] carol: gotta go, bye",
    "CHAT [general] carol left",
    "CHAT [general] alice: anyone up for lunch?",
    "CHAT [general] bob: lunch sounds good",
]


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "app.chat"]


def heard(lines: list[str]) -> dict[str, int]:
    found = (re.search(r"Bot (?:stopped|left)\s+nick=(\w+) heard=(\d+)", line) for line in lines)
    return {m.group(1): int(m.group(2)) for m in found if m}


class TestVirtualTime:
    async def test_the_conversation(self, caplog: pytest.LogCaptureFixture) -> None:
        """The transcript is the script in time order; carol's exit is announced; counts add up."""
        caplog.set_level(logging.INFO)
        async with actors.open_node() as node:
            await registry.boot_app(node, APP)
            await trio.sleep(3)
            general = node.lookup("room.general")
            assert general is not None and node.lookup("room.random") is not None
            assert len(actors.groups(node).members("room:general")) == 2  # carol left
        lines = messages(caplog)
        chat = [line for line in lines if line.startswith("CHAT")]
        assert sorted(chat[:3]) == TRANSCRIPT[:3]  # the bots join at the same instant
        assert chat[3:] == TRANSCRIPT[3:]
        # alice and bob hear all 7 lines of general (bob also his own in random); carol 3
        assert heard(lines) == {"alice": 7, "bob": 8, "carol": 3}
        closed = dict(re.findall(r"Room closed\s+room=(\w+) lines=(\d+)", "\n".join(lines)))
        assert closed == {"general": "6", "random": "1"}


@pytest.mark.slow
class TestCommandLine:
    def test_run_and_ctrl_c(self) -> None:
        """`actors run examples/chat_room` chats until SIGINT and exits 0."""
        code, out = helpers.run_app_until(
            APP, lambda seen: any("lunch sounds good" in line for line in seen)
        )
        assert code == 0, out
        assert "Traceback" not in "\n".join(out)
        assert set(heard(out)) == {"alice", "bob", "carol"}
        assert re.fullmatch(r"INFO  App stopped\s+clean=true", out[-1])
