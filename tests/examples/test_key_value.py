"""The key_value example: a Server with state, called by name; bad requests fail only the call."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import actors
import programs
import registry

APP = programs.EXAMPLES / "key_value"


async def test_cli_session(capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI's set/get/delete/keys/stats session, as printed."""
    assert await programs.exec_program(APP) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "  SET name = actors  → ok: True" in lines
    assert "  GET version → 0.1" in lines
    assert "  GET missing_key → (not found)" in lines
    assert "  Deleted: True" in lines
    assert "  Keys (4): model, name, runtime, version" in lines
    assert "  INCR name → unknown operation 'incr'; use set, get, delete, keys or stats" in lines
    assert "  Total operations: 11" in lines
    assert "  Total keys: 4" in lines


async def test_state_lives_in_the_server_process() -> None:
    """The data lives in the service's process; a restart of the service starts it empty."""
    async with actors.open_node() as node:
        app = await registry.boot_app(node, APP)
        await node.call("app:kv", "set", {"key": "a", "value": [1, 2]})
        assert await node.call("app:kv", "get", {"key": "a"}) == {
            "op": "get",
            "key": "a",
            "value": [1, 2],
            "found": True,
        }
        await node.call("app:kv", "set", {"key": "none", "value": None})
        assert (await node.call("app:kv", "delete", {"key": "none"}))["deleted"] is True
        assert (await node.call("app:kv", "delete", {"key": "none"}))["deleted"] is False
        assert app.services is not None
        await app.services.restart("app:kv")
        assert (await node.call("app:kv", "get", {"key": "a"}))["found"] is False


payloads = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=300),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
requests = st.tuples(
    st.sampled_from(["set", "get", "delete", "keys", "stats", "incr", "SET", "x"]),
    payloads | st.fixed_dictionaries({"key": payloads}, optional={"value": payloads}),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(requests, min_size=1, max_size=12))
def test_any_request_gets_a_reply_or_call_failed(batch: list[tuple[str, Any]]) -> None:
    """Whatever the topic and payload, the call is answered or fails with ``CallFailed`` naming
    the problem; the server never crashes, and its data follows a dict model of the accepted
    requests (Hypothesis over request batches)."""

    async def main() -> None:
        async with actors.open_node() as node:
            await registry.boot_app(node, APP)
            pid = node.lookup("app:kv")
            model: dict[str, Any] = {}
            for topic, payload in batch:
                try:
                    reply = await node.call("app:kv", topic, payload, timeout=1.0)
                except actors.CallFailed as error:
                    cause = error.__cause__
                    if not isinstance(cause, ValueError) or not str(cause):
                        raise AssertionError(f"{topic} {payload!r}: {error!r}") from error
                    continue
                assert reply["op"] == topic
                if topic == "set":
                    model[payload["key"]] = payload["value"]
                elif topic == "get":
                    assert reply["found"] == (payload["key"] in model)
                    assert reply["value"] == model.get(payload["key"])
                elif topic == "delete":
                    assert reply["deleted"] == (payload["key"] in model)
                    model.pop(payload["key"], None)
                elif topic == "keys":
                    assert reply["keys"] == sorted(model)
            assert node.lookup("app:kv") == pid  # never crashed or restarted
            assert (await node.call("app:kv", "keys"))["keys"] == sorted(model)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


@pytest.mark.slow
def test_actors_run_x() -> None:
    """``actors run examples/key_value -x app:cli``: exit 0, the server stops after it."""
    done = programs.run_program(APP)
    assert programs.clean_exit(done), done.stderr
    assert "  Keys (4): model, name, runtime, version\n" in done.stdout
    assert "KV server stopping keys=4 ops=12" in done.stderr
