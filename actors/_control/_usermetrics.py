"""User metrics over the control endpoint (``actors metrics``) and in Prometheus's text format.

One request (``MetricsRequest``: the metrics whose name starts with a prefix), one reply (rows
copied from the node's ``actors.metrics`` snapshot, at most ``MAX_SERIES_ROWS`` series), and
the text the command prints: Prometheus's exposition format, so its output can be piped to
tools that read it. ``PrometheusCollector`` hands the same snapshot to ``serve_metrics``.
"""

from __future__ import annotations

import importlib
import math
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .._core._node import Node
    from .._patterns._series import MetricSnapshot

MAX_SERIES_ROWS = 20_000
"""The most series one reply carries (the rest is left out and ``truncated`` set)."""


class MetricsRequest(msgspec.Struct, tag="metrics", forbid_unknown_fields=True):
    """The node's user metrics whose names start with ``prefix``."""

    prefix: Annotated[str, msgspec.Meta(max_length=200)] = ""


class SeriesRow(msgspec.Struct):
    """One label set: a value, or a histogram's sum, count and cumulative buckets."""

    labels: list[str]
    value: float
    count: int = 0
    buckets: list[tuple[float, int]] = []


class MetricRow(msgspec.Struct):
    """One metric: its kind, help, label names and series."""

    name: str
    kind: str
    help: str
    labels: list[str]
    series: list[SeriesRow]
    overflowed: int = 0


class MetricsReply(msgspec.Struct, tag="metrics"):
    """What ``MetricsRequest`` gets."""

    metrics: list[MetricRow]
    truncated: bool = False


def metrics_reply(node: Node, request: MetricsRequest) -> MetricsReply:
    """Copy the node's matching metrics into rows (no awaits: one consistent snapshot)."""
    rows: list[MetricRow] = []
    left = MAX_SERIES_ROWS
    truncated = False
    from .._patterns._metrics import metrics as node_metrics  # the client never needs it

    for snap in node_metrics(node).snapshot():
        if not snap.name.startswith(request.prefix):
            continue
        if len(snap.series) > left:
            truncated = True
            break
        left -= len(snap.series)
        rows.append(_row(snap))
    return MetricsReply(rows, truncated)


def _row(snap: MetricSnapshot) -> MetricRow:
    series = [
        SeriesRow(list(s.labels), s.value, s.count, [(b, n) for b, n in s.buckets])
        for s in snap.series
    ]
    return MetricRow(
        snap.name, snap.kind, snap.help, list(snap.label_names), series, snap.overflowed
    )


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: list[str], values: list[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if value != int(value) else str(int(value))


def _bound(value: float) -> str:
    return "+Inf" if math.isinf(value) else repr(float(value))


def format_metrics(reply: MetricsReply) -> str:
    """The reply in Prometheus's text exposition format (``# HELP``, ``# TYPE``, samples)."""
    lines: list[str] = []
    for metric in reply.metrics:
        if metric.help:
            lines.append(f"# HELP {metric.name} {_escape(metric.help)}")
        lines.append(f"# TYPE {metric.name} {metric.kind}")
        for s in metric.series:
            if metric.kind != "histogram":
                lines.append(f"{metric.name}{_labels(metric.labels, s.labels)} {_number(s.value)}")
                continue
            for bound, count in s.buckets:
                le = f'le="{_bound(bound)}"'
                lines.append(f"{metric.name}_bucket{_labels(metric.labels, s.labels, le)} {count}")
            lines.append(f"{metric.name}_sum{_labels(metric.labels, s.labels)} {_number(s.value)}")
            lines.append(f"{metric.name}_count{_labels(metric.labels, s.labels)} {s.count}")
        if metric.overflowed:
            lines.append(f"# {metric.name}: {metric.overflowed} label sets over the cap")
    if reply.truncated:
        lines.append(f"# truncated: more than {MAX_SERIES_ROWS} series")
    return "\n".join(lines) + ("\n" if lines else "")


class PrometheusCollector:
    """A prometheus_client collector of the node's user metrics.

    The exporter's trio task calls ``refresh()`` (reads the node); the HTTP thread calls
    ``collect()``, which only reads the last snapshot (an immutable tuple), never the node.
    """

    def __init__(self, prom: Any, node: Node) -> None:
        self._core = importlib.import_module(prom.__name__ + ".core")
        self._node = node
        self._snapshot: tuple[MetricSnapshot, ...] = ()

    def refresh(self) -> None:
        """Take a new snapshot of the node's metrics."""
        from .._patterns._metrics import metrics as node_metrics

        self._snapshot = node_metrics(self._node).snapshot()

    def collect(self) -> Iterator[Any]:
        """The metric families of the last snapshot (called by prometheus_client)."""
        core = self._core
        for snap in self._snapshot:
            names = list(snap.label_names)
            if snap.kind == "counter":
                family = core.CounterMetricFamily(snap.name, snap.help, labels=names)
                for s in snap.series:
                    family.add_metric(list(s.labels), s.value)
            elif snap.kind == "gauge":
                family = core.GaugeMetricFamily(snap.name, snap.help, labels=names)
                for s in snap.series:
                    family.add_metric(list(s.labels), s.value)
            else:
                family = core.HistogramMetricFamily(snap.name, snap.help, labels=names)
                for s in snap.series:
                    buckets = [(_bound(b), n) for b, n in s.buckets]
                    family.add_metric(list(s.labels), buckets, s.value)
            yield family
