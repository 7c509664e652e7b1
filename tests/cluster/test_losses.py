"""Every loss is signalled: a plain send another node could not deliver is reported to its
sender (``Undelivered``), a call fails, a lost node fails what waits on it, and ``transient``
restart rules treat ``noconnection`` as a failure."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

import actors
from actors import ExitReason, Restart
from actors.cluster import (
    MemoryNetwork,
    NoConnection,
    NodeDown,
    Undelivered,
    UndeliveredReason,
    _wire,
    open_node_group,
)
from actors.cluster._losses import UNDELIVERED_WINDOW

if TYPE_CHECKING:
    from conftest import Pair


@pytest.mark.parametrize("reason", list(ExitReason))
def test_transient_restarts_after_error_and_noconnection_only(reason: ExitReason) -> None:
    failed = reason in (ExitReason.ERROR, ExitReason.NOCONNECTION)
    assert Restart.TRANSIENT.wanted(reason) is failed
    assert Restart.PERMANENT.wanted(reason)
    assert not Restart.TEMPORARY.wanted(reason)


async def _idle(proc: actors.Process) -> None:
    await trio.sleep_forever()


def _sender(dest: Any, count: int, box: list[Any], *, topic: str = "t") -> Any:
    """A process that sends ``count`` messages to ``dest`` (never blocking), then collects
    what arrives on its events for a while."""

    async def main(proc: actors.Process) -> None:
        for i in range(count):
            proc.send(dest, topic, i)
        with trio.move_on_after(1):
            while True:
                box.append(await proc.events.receive())

    return main


async def test_a_send_to_a_gone_pid_or_an_unknown_name_is_reported_to_the_sender(
    pair: Pair,
) -> None:
    gone = pair.b.spawn(_idle)
    pair.b.terminate(gone)
    await pair.b.wait_exit(gone)
    by_pid: list[Any] = []
    by_name: list[Any] = []
    pid = pair.a.spawn(_sender(gone, 1, by_pid, topic="hello"))
    pair.a.spawn(_sender("nobody@b", 1, by_name))
    await pair.a.wait_exit(pid)
    await trio.sleep(1)
    [event] = by_pid
    assert isinstance(event, Undelivered)
    assert (event.dest, event.topic, event.reason, event.node, event.count) == (
        gone,
        "hello",
        UndeliveredReason.NOPROC,
        "b",
        1,
    )
    [event] = by_name
    assert (event.dest, event.reason, event.count) == ("nobody@b", UndeliveredReason.NOPROC, 1)
    assert pair.gb.statistics().messages_undelivered == 2
    assert pair.ga.statistics().undelivered_reported == 2


async def test_a_full_remote_mailbox_is_reported_coalesced_and_never_blocks(pair: Pair) -> None:
    box = pair.b.spawn(_idle, mailbox=actors.MailboxPolicy(limit=3))
    got: list[Any] = []

    async def storm(proc: actors.Process) -> None:
        for i in range(100):
            proc.send(box, "n", i)  # returns at once: the loss is learnt later
        await trio.sleep(1)  # both reports arrive while this process reads no events
        while proc.events:
            got.append(proc.events.receive_nowait())

    pair.a.spawn(storm)
    await trio.sleep(2)
    [event] = got  # the second report was merged into the first, still queued
    assert isinstance(event, Undelivered)
    assert event.reason is UndeliveredReason.MAILBOX_FULL and event.count == 97
    assert "is full (3 messages)" in event.why and event.dest == box and event.topic == "n"
    # one report at once, one for the 96 that followed within the window: 2 frames, not 97
    assert pair.ga.statistics().undelivered_reported == 2
    assert pair.gb.statistics().messages_undelivered == 97


async def test_a_steady_loss_is_reported_once_per_window(pair: Pair) -> None:
    gone = pair.b.spawn(_idle)
    pair.b.terminate(gone)
    await pair.b.wait_exit(gone)
    events: list[Any] = []

    async def trickle(proc: actors.Process) -> None:
        for i in range(200):  # one lost message every 10 ms for 2 s, reading events meanwhile
            proc.send(gone, "n", i)
            with trio.move_on_after(0.01):
                events.append(await proc.events.receive())
        with trio.move_on_after(1):
            while True:
                events.append(await proc.events.receive())

    await pair.a.wait_exit(pair.a.spawn(trickle))
    assert sum(event.count for event in events) == 200  # every loss counted
    window_reports = 2 / UNDELIVERED_WINDOW
    assert window_reports - 2 <= len(events) <= window_reports + 2  # one per window
    assert pair.ga.statistics().undelivered_reported == len(events)


async def test_a_send_from_outside_a_process_is_counted_and_logged(
    pair: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    box = pair.b.spawn(_idle, mailbox=actors.MailboxPolicy(limit=1))
    for i in range(3):
        pair.a.send(box, "n", i)
    await trio.sleep(1)
    assert pair.gb.statistics().messages_undelivered == 2
    assert pair.ga.statistics().undelivered_reported == 0
    assert "message undelivered node=b peer=a from=None" in caplog.text


async def test_calls_fail_for_a_full_mailbox_a_gone_pid_and_a_lost_node(
    pair: Pair, network: MemoryNetwork
) -> None:
    box = pair.b.spawn(_idle, mailbox=actors.MailboxPolicy(limit=1))
    pair.a.send(box, "fill", 0)
    with pytest.raises(actors.CallFailed, match=r"not delivered: mailbox of .* is full"):
        await pair.a.call(box, "q", 1)
    pair.b.terminate(box)
    await pair.b.wait_exit(box)
    with pytest.raises(actors.ProcessNotFound):
        await pair.a.call(box, "q", 1)
    # a call pending toward a node that is lost fails at once, not at its timeout
    silent = pair.b.spawn(_idle)
    failure: list[BaseException] = []

    async def caller(proc: actors.Process) -> None:
        try:
            await proc.call(silent, "q", 1, timeout=60)
        except actors.CallFailed as error:
            failure.append(error)

    pid = pair.a.spawn(caller)
    await trio.sleep(0.5)
    start = trio.current_time()
    network.cut("b")
    await pair.a.wait_exit(pid)
    assert trio.current_time() - start < 0.01
    [error] = failure
    assert "noconnection" in str(error) and isinstance(error.__cause__, NoConnection)


async def test_a_reply_to_a_peer_that_is_not_connected_is_counted(pair: Pair) -> None:
    async def late(proc: actors.Process) -> None:
        msg = await proc.inbox.receive()
        await trio.sleep(0.5)
        proc.reply(msg, "late")

    replier = pair.b.spawn(late)

    async def caller(proc: actors.Process) -> None:
        await proc.call(replier, "q", 1, timeout=60)

    pid = pair.a.spawn(caller)
    await trio.sleep(0.1)
    # b stops seeing a (one side of a lost link): the reply is not sent, and that is counted
    pair.gb.transport._connected.discard("a")  # type: ignore[attr-defined]
    await trio.sleep(1)
    assert pair.gb.statistics().frames_unsent == 1
    pair.a.cancel(pid)


async def test_bad_reports_are_dropped(pair: Pair) -> None:
    sender = pair.a.spawn(_idle)
    bad_reason = _wire.NotDelivered(sender, "x@b", "t", "bogus", "", 1)
    bad_count = _wire.NotDelivered(sender, "x@b", "t", "noproc", "", 0)
    for frame in (bad_reason, bad_count):
        pair.ga.frame_received("b", _wire.encode(frame))
    assert pair.ga.statistics().frames_dropped == 2
    assert pair.ga.statistics().undelivered_reported == 0
    assert not pair.a._procs[sender.seq].events


async def test_a_cut_node_heals_and_frames_in_flight_stay_lost(network: MemoryNetwork) -> None:
    async with (
        actors.open_node(name="a") as a,
        open_node_group(a, network.transport("a")) as ga,
        actors.open_node(name="b") as b,
        open_node_group(b, network.transport("b")) as gb,
    ):
        got: list[Any] = []

        async def record(proc: actors.Process) -> None:
            async for msg in proc.inbox:
                got.append(msg.payload)

        rec = b.spawn(record)
        a.send(rec, "n", "in flight")  # queued, not yet handled by b
        network.cut("b")
        assert ga.nodes() == [] and gb.nodes() == []
        with pytest.raises(ValueError, match="heal only a node that was cut"):
            network.heal("a")  # not cut
        network.heal("b")
        assert ga.nodes() == ["b"] and gb.nodes() == ["a"]
        a.send(rec, "n", "after")
        await trio.sleep(0.1)
        assert got == ["after"]  # what was in flight at the cut is lost (its loss was signalled)
        with pytest.raises(ValueError, match="heal only a node that was cut"):
            network.heal("b")  # not cut any more


Step = str


@dataclasses.dataclass
class _Run:
    sent_step: dict[int, int] = dataclasses.field(default_factory=dict)
    events: list[tuple[int, Any]] = dataclasses.field(default_factory=list)
    got: list[Any] = dataclasses.field(default_factory=list)
    wrong: list[Any] = dataclasses.field(default_factory=list)
    refused_at_send: set[int] = dataclasses.field(default_factory=set)


def _run_ops(ops: list[Step], limit: int) -> _Run:
    """Run ``ops`` on nodes a (the sender) and b (a slow receiver with a bounded mailbox)."""
    run = _Run()
    network = MemoryNetwork()

    async def receiver(proc: actors.Process) -> None:
        while True:
            msg = await proc.inbox.receive()
            if msg.topic == "get":
                proc.reply(msg, run.got)
                continue
            number, to = msg.payload
            if to != proc.pid:
                run.wrong.append(msg.payload)
            run.got.append(number)
            await trio.sleep(0.003)  # slow: a burst overflows the mailbox

    async def main() -> None:
        async with (
            actors.open_node(name="a") as a,
            open_node_group(a, network.transport("a")) as ga,
            actors.open_node(name="b") as b,
            open_node_group(b, network.transport("b")),
        ):
            rec = b.spawn(receiver, mailbox=actors.MailboxPolicy(limit=limit))

            async def sender(proc: actors.Process) -> None:
                ga.monitor_nodes(proc)
                proc.monitor(rec)
                number = 0
                for step, op in enumerate(ops):
                    if op == "send":
                        run.sent_step[number] = step
                        try:
                            proc.send(rec, "n", [number, rec])
                        except NoConnection:
                            run.refused_at_send.add(number)
                        number += 1
                    elif op == "cut" and "b" in network.transports:
                        network.cut("b")
                    elif op == "heal" and "b" not in network.transports:
                        network.heal("b")
                        proc.monitor(rec)
                    elif op == "tick":
                        await trio.sleep(0.004)
                    while proc.events:
                        run.events.append((step, proc.events.receive_nowait()))
                if "b" not in network.transports:
                    network.heal("b")
                with trio.move_on_after(1):
                    while True:
                        run.events.append((len(ops), await proc.events.receive()))

            await a.wait_exit(a.spawn(sender))

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    return run


def _signals(run: _Run) -> list[int]:
    steps = []
    for step, event in run.events:
        if (
            (isinstance(event, NodeDown) and event.node == "b")
            or (isinstance(event, actors.Exit) and event.reason is ExitReason.NOCONNECTION)
            or isinstance(event, Undelivered)
        ):
            steps.append(step)
    return steps


@settings(max_examples=60, deadline=None)
@given(
    ops=st.lists(st.sampled_from(["send"] * 6 + ["tick"] * 3 + ["cut", "heal"]), max_size=60),
    limit=st.integers(1, 4),
)
def test_every_lost_message_is_matched_by_a_signal_after_it_was_sent(
    ops: list[Step], limit: int
) -> None:
    """Random sends, cuts and heals toward a slow receiver with a small bounded mailbox.

    Received numbers strictly increase (per-pair FIFO, nothing twice), nothing reaches the
    wrong process, and every message not received (nor refused by ``send`` itself) is
    followed by a ``NodeDown``, an ``Exit(noconnection)`` or an ``Undelivered`` for the
    sender; the ``Undelivered`` counts add up to the messages the full mailbox refused.
    """
    run = _run_ops(ops, limit)
    assert run.got == sorted(set(run.got))
    assert run.wrong == []
    signals = _signals(run)
    lost = set(run.sent_step) - set(run.got) - run.refused_at_send
    for number in lost:
        assert any(step >= run.sent_step[number] for step in signals), (number, run.events)
    full = sum(e.count for _, e in run.events if isinstance(e, Undelivered))
    assert full <= len(lost)
    if "cut" not in ops:  # no node loss: every loss was a full mailbox, each one reported
        assert full == len(lost)


async def test_a_reply_or_result_too_large_for_a_frame_is_signalled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A reply beyond ``max_frame`` fails the call at once (and raises to the replier); an
    exit result beyond it reaches the remote monitor as None; nothing crashes the node."""
    network = MemoryNetwork(max_frame=1000)
    raised: list[BaseException] = []

    async def big_reply(proc: actors.Process) -> None:
        msg = await proc.inbox.receive()
        try:
            proc.reply(msg, b"x" * 5000)
        except ValueError as error:
            raised.append(error)

    async def big_result(proc: actors.Process) -> bytes:
        await trio.sleep(1)
        return b"x" * 5000

    async with (
        actors.open_node(name="a") as a,
        open_node_group(a, network.transport("a")),
        actors.open_node(name="b") as b,
        open_node_group(b, network.transport("b")) as gb,
    ):
        with pytest.raises(actors.CallFailed, match="reply not sent: frame of"):
            await a.call(b.spawn(big_reply), "q", timeout=30)
        assert "exceeds max_frame=1000" in str(raised[0])

        async def monitor(proc: actors.Process) -> Any:
            proc.monitor(b.spawn(big_result))
            return await proc.events.receive()

        exit = await a.exec(monitor)
        assert (exit.reason, exit.result) == (ExitReason.NORMAL, None)
        assert gb.statistics().frames_unsent == 1  # the Down with the result
        assert "frame not sent node=b peer=a frame=Down" in caplog.text


async def test_a_reply_refused_by_a_full_backlog_resets_the_link(network: MemoryNetwork) -> None:
    """The transport refuses a frame while the peer is connected (its backlog is full): the
    group asks it to reset the link, so the caller's node sees the loss instead of waiting."""
    from actors.cluster import MemoryTransport

    class Refusing(MemoryTransport):
        refuse = False

        def send(self, peer: str, frame: bytes) -> None:
            if self.refuse:
                raise NoConnection(peer, "backlog full")
            super().send(peer, frame)

        def reset(self, peer: str, why: str) -> None:
            resets.append(why)
            self.network.cut(self.node, why)

    resets: list[str] = []
    refusing = Refusing(network, "b")
    async with (
        actors.open_node(name="a") as a,
        open_node_group(a, network.transport("a")),
        actors.open_node(name="b") as b,
        open_node_group(b, refusing),
    ):

        async def answer(proc: actors.Process) -> None:
            msg = await proc.inbox.receive()
            refusing.refuse = True
            proc.reply(msg, "lost")

        started = trio.current_time()
        with pytest.raises(actors.CallFailed, match="noconnection") as failed:
            await a.call(b.spawn(answer), "q", timeout=60)
        assert trio.current_time() - started < 0.1
        assert "a Reply frame was refused" in str(failed.value.__cause__)
        assert resets == ["a Reply frame was refused: node 'a': backlog full"]
