"""Services are reachable by their name: send, call and monitor, following restarts."""

from __future__ import annotations

import pytest
import trio

import actors
from actors import Backoff, Cancel, ProcessNotFound, ServiceSpec, ServiceState, select
from actors import start_services as start

SLOW = Backoff(initial=1.0, jitter=0)


async def greeter(proc: actors.Process, greeting: str) -> None:
    """Answer ``greet`` calls; ``crash`` raises; stop on Cancel."""
    while True:
        got = await select(proc.events, proc.inbox)
        if isinstance(got.value, Cancel):
            return
        if isinstance(got.value, actors.Message):
            if got.value.topic == "crash":
                raise RuntimeError("asked to crash")
            if got.value.topic == "greet":
                proc.reply(got.value, f"{greeting}, {got.value.payload}")


def spec(name: str = "app:greeter", **options: object) -> ServiceSpec:
    return ServiceSpec(name, greeter, ("hello",), auto_start=True, **options)  # type: ignore[arg-type]


class TestNames:
    async def test_call_and_send_by_name(self) -> None:
        """The running incarnation holds the service's name."""
        async with actors.open_node() as node:
            services = await start(node, [spec()])
            pid = (await services.status("app:greeter")).pid
            assert node.lookup("app:greeter") == pid
            assert node.info(pid).names == ("app:greeter",)
            assert await node.call("app:greeter", "greet", "ada") == "hello, ada"
            node.send("app:greeter", "greet", "no reply wanted")  # a plain send works too

    async def test_the_name_follows_restarts(self) -> None:
        """After a crash the name is free during the backoff, then names the new incarnation."""
        async with actors.open_node() as node:
            services = await start(node, [spec(backoff=SLOW)])
            first = node.lookup("app:greeter")
            node.send("app:greeter", "crash")
            await trio.sleep(0.5)  # inside the 1 s restart delay
            assert node.lookup("app:greeter") is None
            with pytest.raises(ProcessNotFound):
                node.send("app:greeter", "greet", "x")
            await trio.sleep(1.0)
            status = await services.status("app:greeter")
            assert status.state is ServiceState.RUNNING and status.starts == 2
            assert node.lookup("app:greeter") == status.pid != first
            assert await node.call("app:greeter", "greet", "bob") == "hello, bob"

    async def test_monitor_by_name(self) -> None:
        """A monitor by name gets the Exit of the incarnation the name held."""

        async def watcher(proc: actors.Process) -> actors.Exit:
            proc.monitor("app:greeter")
            proc.send("app:greeter", "crash")
            event = await proc.events.receive()
            assert isinstance(event, actors.Exit)
            return event

        async with actors.open_node() as node:
            services = await start(node, [spec(backoff=SLOW)])
            pid = (await services.status("app:greeter")).pid
            exit = await node.exec(watcher)
            assert exit.pid == pid and exit.reason is actors.ExitReason.ERROR

    async def test_restart_request_moves_the_name(self) -> None:
        """``services.restart(name)``: the name follows to the new PID."""
        async with actors.open_node() as node:
            services = await start(node, [spec()])
            before = node.lookup("app:greeter")
            after = (await services.restart("app:greeter")).pid
            assert after is not None and after != before
            assert node.lookup("app:greeter") == after

    async def test_a_taken_name_fails_the_start(self) -> None:
        """Another process holding the name: the start fails (and is retried) with NameTaken."""
        async with actors.open_node() as node:
            holder = node.spawn(greeter, "other", name="app:greeter")
            services = await start(node, [spec(backoff=SLOW)])
            status = await services.status("app:greeter")
            assert status.state is ServiceState.FAILED and "NameTaken" in (status.error or "")
            assert node.lookup("app:greeter") == holder
            node.cancel(holder)
            await trio.sleep(1.5)
            status = await services.status("app:greeter")
            assert status.state is ServiceState.RUNNING
            assert node.lookup("app:greeter") == status.pid

    async def test_names_no_pid_may_carry_are_not_registered(self) -> None:
        """A service named like a PID ('{...' or '@...') still runs, without a process name."""
        async with actors.open_node() as node:
            services = await start(node, [spec("@odd")])
            status = await services.status("@odd")
            assert status.state is ServiceState.RUNNING and status.pid is not None
            assert node.info(status.pid).names == ()
