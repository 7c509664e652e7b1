"""Services: dependency order, states, timeouts, retries, API and node shutdown (virtual time)."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

import actors
import helpers
from actors import (
    Backoff,
    Cancel,
    ServiceError,
    ServiceManager,
    ServiceSpec,
    ServiceState,
    notify_ready,
    select,
    start_services,
)
from actors.lowlevel import dependency_order

NO_DELAY = Backoff(initial=0, jitter=0)


async def service(
    proc: actors.Process, name: str, log: list[tuple[str, str]], ready: bool = False
) -> str:
    """Log start/stop; say ready if asked; 'crash' raises, 'return' returns, Cancel stops."""
    log.append(("start", name))
    if ready:
        notify_ready(proc)
    while True:
        got = await select(proc.events, proc.inbox)
        if isinstance(got.value, Cancel):
            log.append(("stop", name))
            return "stopped"
        if isinstance(got.value, actors.Message):
            if got.value.topic == "crash":
                raise RuntimeError(f"{name} crashed")
            if got.value.topic == "return":
                return "done"


def svc(name: str, log: list[tuple[str, str]], *requires: str, **options: object) -> ServiceSpec:
    ready = bool(options.get("ready", False))
    options.setdefault("auto_start", True)
    return ServiceSpec(name, service, (name, log, ready), requires=requires, **options)  # type: ignore[arg-type]


async def poke(node: actors.Node, services: ServiceManager, name: str, topic: str) -> None:
    pid = (await services.status(name)).pid
    assert pid is not None
    node.send(pid, topic)
    await trio.testing.wait_all_tasks_blocked()


class TestSpecs:
    def test_dependency_order_puts_requirements_first(self) -> None:
        """Dependencies come first; otherwise declaration order is kept."""
        log: list[tuple[str, str]] = []
        specs = [svc("web", log, "db", "cache"), svc("db", log, "cfg"), svc("cfg", log)]
        specs.append(svc("cache", log))
        assert dependency_order(specs) == ["cfg", "db", "cache", "web"]

    def test_cycle_is_named(self) -> None:
        """A dependency cycle is a ValueError that shows the cycle."""
        log: list[tuple[str, str]] = []
        specs = [svc("a", log, "b"), svc("b", log, "c"), svc("c", log, "a")]
        with pytest.raises(ValueError, match=r"^service dependency cycle: a -> b -> c -> a$"):
            dependency_order(specs)

    def test_unknown_and_duplicate(self) -> None:
        """Unknown dependencies, duplicate names and self-dependencies are refused."""
        log: list[tuple[str, str]] = []
        with pytest.raises(ValueError, match=r"^service 'a' requires unknown service 'x'$"):
            dependency_order([svc("a", log, "x")])
        with pytest.raises(ValueError, match=r"^duplicate service name 'a'$"):
            dependency_order([svc("a", log), svc("a", log)])
        with pytest.raises(ValueError, match=r"^service 'a' requires itself$"):
            svc("a", log, "a")

    def test_fields_validated(self) -> None:
        """Timeouts must be durations > 0; restart must be a known type; requires a list."""
        with pytest.raises(ValueError, match=r"^start_timeout must be > 0"):
            ServiceSpec("a", helpers.idle, start_timeout=0)
        with pytest.raises(ValueError, match=r"^stop_timeout must be >= 0"):
            ServiceSpec("a", helpers.idle, stop_timeout=-1)
        with pytest.raises(ValueError, match=r"^restart must be one of"):
            ServiceSpec("a", helpers.idle, restart="often")
        with pytest.raises(ValueError, match=r"^requires must be a list"):
            ServiceSpec("a", helpers.idle, requires="b")
        assert ServiceSpec("a", helpers.idle, stop_timeout="1m").stop_timeout == 60

    async def test_cycle_starts_nothing(self) -> None:
        """start_services with a cycle raises before any process is spawned."""
        log: list[tuple[str, str]] = []
        async with actors.open_node() as node:
            with pytest.raises(ValueError, match="cycle"):
                await start_services(node, [svc("a", log, "b"), svc("b", log, "a")])
            assert len(node) == 0


class TestOrder:
    async def test_start_in_dependency_order_stop_in_reverse(self) -> None:
        """auto_start follows requires; node shutdown stops dependents first."""
        log: list[tuple[str, str]] = []
        specs = [
            svc("web", log, "db", ready=True),
            svc("db", log, "cfg", ready=True),
            svc("cfg", log, ready=True),
        ]
        async with actors.open_node() as node:
            services = await start_services(node, specs)
            states = [s.state for s in await services.statuses()]
            assert states == [ServiceState.RUNNING] * 3
        assert log == [
            ("start", "cfg"),
            ("start", "db"),
            ("start", "web"),
            ("stop", "web"),
            ("stop", "db"),
            ("stop", "cfg"),
        ]

    async def test_spawn_order_without_readiness(self) -> None:
        """Services that need no readiness are still spawned in dependency order."""
        log: list[tuple[str, str]] = []
        async with actors.open_node() as node:
            services = await start_services(node, [svc("b", log, "a"), svc("a", log)])
            by_name = {s.name: s.pid for s in await services.statuses()}
        assert by_name["a"] is not None
        assert by_name["b"] is not None
        assert by_name["a"].seq < by_name["b"].seq

    async def test_start_pulls_in_requirements_and_stop_stops_dependents(self) -> None:
        """start(name) starts what it requires; stop(name) stops what requires it first."""
        log: list[tuple[str, str]] = []
        specs = [
            svc("a", log, auto_start=False),
            svc("b", log, "a", auto_start=False),
            svc("c", log, "b", auto_start=False),
        ]
        async with actors.open_node() as node:
            services = await start_services(node, specs)
            assert {s.state for s in await services.statuses()} == {ServiceState.STOPPED}
            status = await services.start("c")
            assert status.state is ServiceState.RUNNING
            await trio.testing.wait_all_tasks_blocked()
            assert sorted(log) == [("start", "a"), ("start", "b"), ("start", "c")]
            log.clear()
            await services.stop("a")
            assert log == [("stop", "c"), ("stop", "b"), ("stop", "a")]
            states = {s.name: s.state for s in await services.statuses()}
        assert states == dict.fromkeys("abc", ServiceState.STOPPED)

    async def test_node_shutdown_stops_services_before_other_processes(self) -> None:
        """On node shutdown, services stop (in reverse order) before anything else is cancelled."""
        log: list[tuple[str, str]] = []

        async def bystander(proc: actors.Process) -> None:
            await helpers.idle(proc)
            log.append(("stop", "bystander"))

        async with actors.open_node() as node:
            node.spawn(bystander)
            await start_services(node, [svc("a", log), svc("b", log, "a")])
            await trio.testing.wait_all_tasks_blocked()
            log.clear()
        assert log == [("stop", "b"), ("stop", "a"), ("stop", "bystander")]


class TestTimeouts:
    async def test_stop_timeout_then_terminate(self) -> None:
        """A service ignoring Cancel is terminated after stop_timeout."""
        async with actors.open_node() as node:
            spec = ServiceSpec("f", helpers.forever, auto_start=True, stop_timeout=3)
            services = await start_services(node, [spec])
            pid = (await services.status("f")).pid
            assert pid is not None
            exit_box: list[actors.Exit] = []

            async def wait() -> None:
                exit_box.append(await node.wait_exit(pid))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(wait)
                await trio.testing.wait_all_tasks_blocked()
                started = trio.current_time()
                status = await services.stop("f")
                assert trio.current_time() - started == 3
        assert status.state is ServiceState.STOPPED
        assert isinstance(exit_box[0].error, actors.Terminated)
        assert exit_box[0].reason is actors.ExitReason.SHUTDOWN

    async def test_start_timeout_fails_and_retries(self) -> None:
        """No readiness within start_timeout: failed, terminated, retried after the backoff."""
        spawned: list[float] = []

        async def never_ready(proc: actors.Process) -> None:
            spawned.append(trio.current_time())
            await trio.sleep_forever()

        spec = ServiceSpec(
            "slow",
            never_ready,
            ready=True,
            start_timeout=2,
            backoff=Backoff(initial=1, jitter=0, max_attempts=3),
            critical=False,
        )
        async with actors.open_node() as node:
            services = await start_services(node, [spec])
            with pytest.raises(ServiceError, match="failed to start: start timeout"):
                await services.start("slow")
            status = await services.status("slow")
            assert (status.state, status.error, status.retry_at) == (
                ServiceState.FAILED,
                "start timeout",
                3.0,
            )
            await trio.sleep(100)
            status = await services.status("slow")
        # runs at 0 (timeout at 2), 3 (timeout at 5), 7 (timeout at 9, third failure: give up)
        assert spawned == [0, 3, 7]
        assert (status.state, status.retry_at, status.pid) == (ServiceState.FAILED, None, None)

    async def test_ready_service_is_starting_until_ready(self) -> None:
        """A ready=True service is running only after notify_ready."""

        async def late(proc: actors.Process) -> None:
            await trio.sleep(4)
            notify_ready(proc)
            await helpers.idle(proc)

        async with actors.open_node() as node:
            services = await start_services(
                node, [ServiceSpec("late", late, ready=True, auto_start=True)]
            )
            assert trio.current_time() == 4
            assert (await services.status("late")).state is ServiceState.RUNNING

    @pytest.mark.parametrize("pause", [0.0, 1.0])
    async def test_one_shot_ready_then_returns(self, pause: float) -> None:
        """A service that says ready and returns at once (a one-shot): it started, its
        dependents start after it, and it is ``exited``, not failed."""
        order: list[str] = []

        async def oneshot(proc: actors.Process) -> None:
            await trio.sleep(pause)
            order.append("oneshot")
            notify_ready(proc)

        async def after(proc: actors.Process) -> None:
            order.append("after")
            await helpers.idle(proc)

        async with actors.open_node() as node:
            services = await start_services(
                node,
                [
                    ServiceSpec("oneshot", oneshot, ready=True, auto_start=True),
                    ServiceSpec("after", after, requires=["oneshot"], auto_start=True),
                ],
            )
            await trio.sleep(0.1)
            assert order == ["oneshot", "after"]
            status = await services.status("oneshot")
            assert (status.state, status.starts, status.failures) == (ServiceState.EXITED, 1, 0)
            assert (await services.status("after")).state is ServiceState.RUNNING

    async def test_ready_and_exit_queued_behind_another_message(self) -> None:
        """The manager is handed another message while it waits for readiness; before it
        looks again the service has said ready and returned, so both its readiness and its
        Exit are queued, the Exit on ``events``, which ``select`` reads first: still a start."""
        from actors._supervision._service import owners

        async def oneshot(proc: actors.Process) -> None:
            proc.send(owners()[proc.pid], "unrelated")  # wakes the manager first
            notify_ready(proc)

        async with actors.open_node() as node:
            services = await start_services(
                node, [ServiceSpec("oneshot", oneshot, ready=True, auto_start=True)]
            )
            status = await services.status("oneshot")
            assert (status.state, status.starts, status.failures) == (ServiceState.EXITED, 1, 0)
            assert status.error is None

    async def test_notify_ready_outside_a_service(self) -> None:
        """notify_ready from a process that is not a waiting service is a RuntimeError."""

        async def main(proc: actors.Process) -> None:
            notify_ready(proc)

        async with actors.open_node() as node:
            with pytest.raises(RuntimeError, match="not a service waiting for readiness"):
                await node.exec(main)


class TestFailures:
    async def test_crash_retries_with_growing_backoff(self) -> None:
        """A crash is failed and retried after 1, 2, 4 s; the count survives retries."""
        log: list[tuple[str, str]] = []
        async with actors.open_node() as node:
            services = await start_services(node, [svc("a", log, backoff=Backoff(jitter=0))])
            await trio.testing.wait_all_tasks_blocked()
            times = []
            for delay in (1, 2, 4):
                await poke(node, services, "a", "crash")
                status = await services.status("a")
                assert status.state is ServiceState.FAILED
                assert status.error == "RuntimeError('a crashed')"
                assert status.retry_at == trio.current_time() + delay
                await trio.sleep(delay)
                await trio.testing.wait_all_tasks_blocked()
                times.append(trio.current_time())
                assert (await services.status("a")).state is ServiceState.RUNNING
            assert (await services.status("a")).starts == 4
        assert times == [1, 3, 7]

    async def test_clean_return_is_exited(self) -> None:
        """A transient service that returns is exited and not restarted."""
        log: list[tuple[str, str]] = []
        async with actors.open_node() as node:
            services = await start_services(node, [svc("a", log)])
            await trio.testing.wait_all_tasks_blocked()
            await poke(node, services, "a", "return")
            await trio.sleep(100)
            status = await services.status("a")
        assert (status.state, status.pid, status.starts) == (ServiceState.EXITED, None, 1)

    async def test_permanent_clean_return_restarts(self) -> None:
        """A permanent service that returns is restarted after its backoff."""
        log: list[tuple[str, str]] = []
        async with actors.open_node() as node:
            spec = svc("a", log, restart="permanent", backoff=Backoff(initial=2, jitter=0))
            services = await start_services(node, [spec])
            await trio.testing.wait_all_tasks_blocked()
            await poke(node, services, "a", "return")
            assert (await services.status("a")).state is ServiceState.EXITED
            await trio.sleep(2)
            status = await services.status("a")
        assert (status.state, status.starts) == (ServiceState.RUNNING, 2)

    async def test_temporary_is_not_retried(self) -> None:
        """A temporary service that crashes stays failed."""
        log: list[tuple[str, str]] = []
        async with actors.open_node() as node:
            services = await start_services(node, [svc("a", log, restart="temporary")])
            await trio.testing.wait_all_tasks_blocked()
            await poke(node, services, "a", "crash")
            await trio.sleep(100)
            status = await services.status("a")
        assert (status.state, status.retry_at, status.starts) == (ServiceState.FAILED, None, 1)

    async def test_stop_cancels_a_pending_retry(self) -> None:
        """stop() on a failed service waiting for its retry makes it stopped for good."""
        log: list[tuple[str, str]] = []
        async with actors.open_node() as node:
            services = await start_services(node, [svc("a", log)])
            await trio.testing.wait_all_tasks_blocked()
            await poke(node, services, "a", "crash")
            status = await services.stop("a")
            assert (status.state, status.retry_at) == (ServiceState.STOPPED, None)
            await trio.sleep(100)
            assert (await services.status("a")).starts == 1

    async def test_critical_give_up_stops_the_manager(self) -> None:
        """A critical service at max_attempts: the others stop, the manager exits with the error."""
        log: list[tuple[str, str]] = []
        specs = [
            svc("a", log),
            svc("b", log, "a", backoff=Backoff(initial=1, jitter=0, max_attempts=2)),
        ]
        async with actors.open_node() as node:
            services = await start_services(node, specs)
            await trio.testing.wait_all_tasks_blocked()
            exits: list[actors.Exit] = []

            async def watch() -> None:
                exits.append(await node.wait_exit(services.pid))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch)
                await trio.testing.wait_all_tasks_blocked()
                await poke(node, services, "b", "crash")
                await trio.sleep(1)
                await poke(node, services, "b", "crash")
        error = exits[0].error
        assert isinstance(error, ServiceError) and error.service == "b"
        assert str(error) == (
            "critical service 'b' gave up after 2 attempts: RuntimeError('b crashed')"
        )
        assert log[-1] == ("stop", "a")  # the others were stopped first

    async def test_optional_give_up_keeps_the_others(self) -> None:
        """critical=False: the service stays failed, the manager and the others run on."""
        log: list[tuple[str, str]] = []
        once = Backoff(initial=1, jitter=0, max_attempts=1)
        async with actors.open_node() as node:
            services = await start_services(
                node, [svc("a", log), svc("b", log, backoff=once, critical=False)]
            )
            await trio.testing.wait_all_tasks_blocked()
            await poke(node, services, "b", "crash")
            await trio.sleep(100)
            statuses = {s.name: s.state for s in await services.statuses()}
        assert statuses == {"a": ServiceState.RUNNING, "b": ServiceState.FAILED}

    def test_critical_must_be_a_bool(self) -> None:
        """critical is checked like the other flags."""
        with pytest.raises(ValueError, match="critical must be a bool, got 'no'"):
            ServiceSpec("a", service, args=("a", []), critical="no")  # type: ignore[arg-type]


class TestApi:
    async def test_restart_restarts_dependents(self) -> None:
        """restart(name) stops dependents, restarts the service, then starts them again."""
        log: list[tuple[str, str]] = []
        async with actors.open_node() as node:
            services = await start_services(node, [svc("a", log), svc("b", log, "a")])
            before = {s.name: s.pid for s in await services.statuses()}
            await trio.testing.wait_all_tasks_blocked()
            log.clear()
            status = await services.restart("a")
            await trio.testing.wait_all_tasks_blocked()
            after = {s.name: s.pid for s in await services.statuses()}
            log = log[:]
        assert status.state is ServiceState.RUNNING
        assert log[:2] == [("stop", "b"), ("stop", "a")]
        assert sorted(log[2:]) == [("start", "a"), ("start", "b")]
        assert all(after[n] not in (None, before[n]) for n in "ab")

    async def test_unknown_service(self) -> None:
        """Asking about an unknown service raises ServiceError."""
        async with actors.open_node() as node:
            services = await start_services(node, [])
            with pytest.raises(ServiceError, match="no service named 'nope'"):
                await services.status("nope")
            with pytest.raises(ServiceError, match="no service named 'nope'"):
                await services.start("nope")

    async def test_manager_from_a_process(self) -> None:
        """start_services works from a process (the manager is linked to it)."""
        log: list[tuple[str, str]] = []

        async def main(proc: actors.Process) -> ServiceState:
            services = await start_services(proc, [svc("a", log)])
            return (await services.status("a")).state

        async with actors.open_node() as node:
            assert await node.exec(main) is ServiceState.RUNNING

    async def test_lifecycle_log_lines(self, caplog: pytest.LogCaptureFixture) -> None:
        """Lifecycle events are logged on actors.service in key=value form."""
        log: list[tuple[str, str]] = []
        caplog.set_level(logging.INFO, logger="actors.service")
        async with actors.open_node() as node:
            spec = svc("app:ticker", log, backoff=Backoff(jitter=0))
            services = await start_services(node, [spec])
            pid = (await services.status("app:ticker")).pid
            await poke(node, services, "app:ticker", "crash")
            await trio.sleep(1)
            new_pid = (await services.status("app:ticker")).pid
        lines = [r.getMessage() for r in caplog.records if r.name == "actors.service"]
        assert lines == [
            "service starting name=app:ticker",
            f"service started name=app:ticker pid={pid}",
            f"service failed name=app:ticker pid={pid} error=RuntimeError('app:ticker crashed')"
            " retry_in=1.000s attempt=1",
            "service starting name=app:ticker",
            f"service started name=app:ticker pid={new_pid}",
            f"service stopping name=app:ticker pid={new_pid}",
            f"service stopped name=app:ticker pid={new_pid}",
        ]
