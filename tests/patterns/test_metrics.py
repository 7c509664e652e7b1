"""User metrics: counters, gauges, histograms, bounded labels, snapshots and the exporters."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

import actors
from actors._control._client import Connection
from actors._control._usermetrics import (
    MetricsReply,
    MetricsRequest,
    PrometheusCollector,
    format_metrics,
    metrics_reply,
)
from actors.lowlevel import Counter, open_control_endpoint

HAS_PROMETHEUS = importlib.util.find_spec("prometheus_client") is not None


class TestRecording:
    async def test_counter_gauge_histogram(self) -> None:
        """Values land where they should; snapshots are cumulative per bucket."""
        async with actors.open_node() as node:
            m = actors.metrics(node)
            requests = m.counter("requests_total", "Requests served", ["method"])
            requests.labels("GET").inc()
            requests.labels("GET").inc(2)
            requests.labels("POST").inc()
            users = m.gauge("users")
            users.set(5)
            users.inc()
            users.dec(2)
            latency = m.histogram("latency_seconds", buckets=[0.1, 1.0])
            for value in (0.05, 0.1, 0.5, 3.0):
                latency.observe(value)
            snap = {s.name: s for s in m.snapshot()}
            assert [(s.labels, s.value) for s in snap["requests_total"].series] == [
                (("GET",), 3.0),
                (("POST",), 1.0),
            ]
            assert snap["users"].series[0].value == 4.0
            hist = snap["latency_seconds"].series[0]
            assert hist.count == 4 and hist.value == pytest.approx(3.65)
            assert hist.buckets == ((0.1, 2), (1.0, 3), (float("inf"), 4))

    async def test_same_name_same_metric_and_conflicts(self) -> None:
        """Asking again returns the same metric; another kind or labels is an error."""
        async with actors.open_node() as node:
            m = actors.metrics(node)
            first = m.counter("jobs_total", labels=["queue"])
            assert actors.metrics(node).counter("jobs_total", labels=["queue"]) is first
            with pytest.raises(ValueError, match="exists as a counter"):
                m.gauge("jobs_total", labels=["queue"])
            with pytest.raises(ValueError, match="exists as a counter"):
                m.counter("jobs_total", labels=["other"])
            m.histogram("h", buckets=[1, 2])
            with pytest.raises(ValueError, match="exists with buckets"):
                m.histogram("h", buckets=[1, 3])

    async def test_metrics_are_per_node(self) -> None:
        """Two nodes keep separate metrics."""
        async with actors.open_node() as a, actors.open_node() as b:
            actors.metrics(a).counter("c").inc()
            assert actors.metrics(b).snapshot() == ()

    async def test_errors_name_the_metric_and_value(self) -> None:
        """Misuse is a ValueError that says what was wrong."""
        async with actors.open_node() as node:
            m = actors.metrics(node)
            counter = m.counter("c_total", labels=["a"])
            with pytest.raises(ValueError, match=r"use \.labels"):
                counter.inc()
            with pytest.raises(ValueError, match=r"has labels \('a',\), got 2 values"):
                counter.labels("x", "y")
            with pytest.raises(ValueError, match="must be strings"):
                counter.labels(5)  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="only goes up"):
                counter.labels("x").inc(-1)
            with pytest.raises(ValueError, match="only goes up"):
                counter.labels("x").inc(float("nan"))
            with pytest.raises(ValueError, match="must be a number"):
                m.gauge("g").set("high")  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="strictly ascending"):
                m.histogram("h2", buckets=[2, 1])
            with pytest.raises(ValueError, match="has no labels"):
                m.gauge("g").labels("x")

    async def test_label_sets_are_capped_into_an_overflow_series(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Past max_series, new label sets count into one overflow series (warned once)."""
        async with actors.open_node() as node:
            hits = actors.metrics(node).counter("hits_total", labels=["user"], max_series=3)
            with caplog.at_level(logging.WARNING, logger="actors"):
                for i in range(10):
                    hits.labels(f"u{i}").inc()
            snap = hits.snapshot()
            assert [s.labels for s in snap.series] == [("u0",), ("u1",), ("u2",), ("__overflow__",)]
            assert snap.series[-1].value == 7
            assert snap.overflowed == 7
            assert sum("more than 3 label sets" in r.getMessage() for r in caplog.records) == 1
            hits.labels("u1").inc()  # an existing label set is still its own series
            assert hits.snapshot().series[1].value == 2

    @settings(max_examples=50, deadline=None)
    @given(
        st.one_of(st.text(max_size=140), st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True)),
        st.lists(st.text(max_size=70), max_size=12),
    )
    def test_any_name_or_labels_work_or_are_a_value_error(
        self, name: str, labels: list[str]
    ) -> None:
        """Generated names and label names never give anything but success or ValueError."""

        async def main() -> None:
            async with actors.open_node() as node:
                try:
                    metric = actors.metrics(node).counter(name, labels=labels)
                except ValueError:
                    return
                assert isinstance(metric, Counter)
                assert metric.label_names == tuple(labels)

        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


class TestExport:
    async def test_text_format(self) -> None:
        """The control reply prints in Prometheus's exposition format; prefix filters."""
        async with actors.open_node() as node:
            m = actors.metrics(node)
            m.counter("app_requests_total", 'Requests "served"', ["path"]).labels("/a\n").inc(3)
            m.histogram("app_latency_seconds", buckets=[0.5]).observe(0.25)
            m.gauge("other").set(1.5)
            reply = metrics_reply(node, MetricsRequest(prefix="app_"))
        assert [row.name for row in reply.metrics] == ["app_requests_total", "app_latency_seconds"]
        assert format_metrics(reply).splitlines() == [
            '# HELP app_requests_total Requests \\"served\\"',
            "# TYPE app_requests_total counter",
            'app_requests_total{path="/a\\n"} 3',
            "# TYPE app_latency_seconds histogram",
            'app_latency_seconds_bucket{le="0.5"} 1',
            'app_latency_seconds_bucket{le="+Inf"} 1',
            "app_latency_seconds_sum 0.25",
            "app_latency_seconds_count 1",
        ]

    @pytest.mark.real_time
    async def test_over_the_control_socket_and_the_command(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`actors metrics --socket PATH` prints the node's metrics."""
        from registry._cli import main

        path = tmp_path / "c" / "node.sock"
        async with actors.open_node(shutdown_grace=0.1) as node:
            actors.metrics(node).gauge("queue_depth", "Jobs waiting").set(7)
            async with open_control_endpoint(node, path):

                def ask() -> Any:
                    with Connection(path) as conn:
                        return conn.ask(MetricsRequest())

                reply = await trio.to_thread.run_sync(ask)
                code = await trio.to_thread.run_sync(main, ["metrics", "--socket", str(path)])
        assert isinstance(reply, MetricsReply)
        assert reply.metrics[0].series[0].value == 7
        assert code == 0
        assert "queue_depth 7" in capsys.readouterr().out.splitlines()

    @pytest.mark.skipif(not HAS_PROMETHEUS, reason="the metrics extra is not installed")
    async def test_prometheus_collector(self) -> None:
        """The Prometheus exporter serves user metrics from its last refresh."""
        import prometheus_client

        async with actors.open_node() as node:
            m = actors.metrics(node)
            m.counter("jobs_total", labels=["queue"]).labels("mail").inc(2)
            m.histogram("took_seconds", buckets=[1]).observe(0.5)
            collector = PrometheusCollector(prometheus_client, node)
            registry = prometheus_client.CollectorRegistry()
            registry.register(collector)
            assert b"jobs_total" not in prometheus_client.generate_latest(registry)
            collector.refresh()
            text = prometheus_client.generate_latest(registry).decode()
        assert 'jobs_total{queue="mail"} 2.0' in text
        assert 'took_seconds_bucket{le="1.0"} 1.0' in text
        assert 'took_seconds_bucket{le="+Inf"} 1.0' in text
