"""The ticking workload's window: only ticks scheduled inside it count (no backlog above 1.0)."""

from __future__ import annotations

import math

import pytest

from bench import _common


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _window() -> tuple[_common.TickWindow, FakeClock]:
    clock = FakeClock()
    window = _common.TickWindow(clock)
    clock.now = 10.0
    window.open()
    return window, clock


def test_ticks_scheduled_before_the_window_do_not_count() -> None:
    """A backlog caught up during the window is not throughput: it is left out."""
    window, clock = _window()
    for scheduled in (5.0, 9.99):  # received in the window, scheduled before it
        window.record(scheduled, 10.5)
    window.record(10.0, 10.001)
    clock.now = 12.0
    window.close()
    assert list(window.lateness) == [pytest.approx(0.001)]
    assert window.seconds == 2.0


def test_ticks_scheduled_inside_but_received_after_the_window_count() -> None:
    """A tick due just before the end still counts when it arrives during the settle time."""
    window, clock = _window()
    clock.now = 12.0
    window.close()
    window.record(11.99, 12.3)
    window.record(12.0, 12.01)  # scheduled at the end: outside
    assert list(window.lateness) == [pytest.approx(0.31)]


def test_a_backlog_cannot_read_above_ideal() -> None:
    """Catching up a start-up backlog at twice the ideal rate still reads 1.0 at most."""
    window, clock = _window()
    periods = [1.0] * 100  # 100 tickers at 1 s: ideal 100 ticks/s
    for k in range(-3, 2):  # ticks due from t=7 to t=11, all received in the window
        for _ in periods:
            window.record(10.0 + k, 11.5)
    clock.now = 12.0
    window.close()
    metrics = _common.tick_metrics(window, 100, 1.0, 2.0, 1.0, 1.0, _common.GcMonitor(), 0.0)
    assert metrics["rate_ratio"] == pytest.approx(1.0)
    assert metrics["lateness_p99_ms"] == pytest.approx(1500.0)


def test_an_empty_window_reports_no_rate_and_no_lateness() -> None:
    window, clock = _window()
    clock.now = 11.0
    window.close()
    metrics = _common.tick_metrics(window, 10, 0.5, 1.0, 0.5, 3.0, _common.GcMonitor(), 0.0)
    assert metrics["rate_ratio"] == 0.0
    assert math.isnan(metrics["lateness_p99_ms"])
    assert math.isinf(metrics["cpu_per_tick_us"])
