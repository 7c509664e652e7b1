"""User metrics of a node: get or create counters, gauges and histograms by name.

The metric types and their snapshots are in ``_series.py``; this module holds the node's table
(in ``node._patterns``), its bounds and ``actors.metrics``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, final

from ._series import (
    _LABEL,
    _NAME,
    DEFAULT_BUCKETS,
    MAX_LABELS,
    MAX_METRICS,
    MAX_SERIES,
    Counter,
    Gauge,
    Histogram,
    MetricSnapshot,
    _check_amount,
    _check_name,
    _Metric,
)
from ._state import node_of, state_of

if TYPE_CHECKING:
    from .._core._node import Node
    from .._core._process import Process


class MetricTable:
    """A node's metrics by name."""

    __slots__ = ("metrics",)

    def __init__(self) -> None:
        self.metrics: dict[str, _Metric] = {}


def _table(node: Node) -> MetricTable:
    state = state_of(node)
    table: MetricTable | None = state.metrics
    if table is None:
        table = state.metrics = MetricTable()
    return table


def _label_names(labels: Sequence[str]) -> tuple[str, ...]:
    if isinstance(labels, str):
        raise ValueError(f"labels must be a sequence of names, got the string {labels!r}")
    names = tuple(_check_name(n, "label name", _LABEL) for n in labels)
    if len(names) > MAX_LABELS or len(set(names)) != len(names):
        raise ValueError(f"labels must be at most {MAX_LABELS} distinct names, got {names}")
    return names


@final
class Metrics:
    """A node's user metrics: get or create counters, gauges and histograms by name.

    Get it with :func:`actors.metrics`. Asking again for a name returns the same metric when
    the kind and labels agree (so each process may declare what it records).

    Args:
        table (MetricTable): The node's metric table.
    """

    __slots__ = ("_table",)

    def __init__(self, table: MetricTable) -> None:
        self._table = table

    def __repr__(self) -> str:
        return f"<Metrics {len(self._table.metrics)} metrics>"

    def _get(
        self,
        cls: type[_Metric],
        name: str,
        help: str,
        labels: Sequence[str],
        max_series: int,
        *extra: object,
    ) -> _Metric:
        metrics = self._table.metrics
        metric = metrics.get(name)
        names = _label_names(labels)
        if metric is not None:
            if type(metric) is not cls or metric.label_names != names:
                raise ValueError(
                    f"metric {name} exists as a {metric.kind} with labels {metric.label_names}"
                )
            return metric
        _check_name(name, "metric name", _NAME)
        if type(help) is not str or len(help) > 1000:
            raise ValueError(f"help of {name} must be a string of at most 1000 characters")
        if isinstance(max_series, bool) or not isinstance(max_series, int) or max_series < 1:
            raise ValueError(f"max_series must be an int >= 1, got {max_series!r}")
        if len(metrics) >= MAX_METRICS:
            raise ValueError(f"a node holds at most {MAX_METRICS} metrics; {name} is one more")
        metric = metrics[name] = cls(name, help, names, max_series, *extra)
        return metric

    def counter(
        self, name: str, help: str = "", labels: Sequence[str] = (), *, max_series: int = MAX_SERIES
    ) -> Counter:
        """The counter ``name`` (created on first use).

        Args:
            name (str): The metric name (Prometheus rules: ``[a-zA-Z_:][a-zA-Z0-9_:]*``, at
                most 128 characters, not starting with ``__``).
            help (str): What it measures, at most 1000 characters (read at creation only).
            labels (Sequence[str]): Label names (at most 10, distinct, ``[a-zA-Z_][a-zA-Z0-9_]*``);
                with labels, record on ``.labels(...)`` series.
            max_series (int): The cap (>= 1) on label sets; past it, new label sets are counted
                in one ``__overflow__`` series (read at creation only).

        Raises:
            ValueError: If the name, labels, ``help`` or ``max_series`` is invalid, the name
                is another kind of metric or has other labels, or the node holds 1000 metrics
                already.
        """
        return self._get(Counter, name, help, labels, max_series)  # type: ignore[return-value]

    def gauge(
        self, name: str, help: str = "", labels: Sequence[str] = (), *, max_series: int = MAX_SERIES
    ) -> Gauge:
        """The gauge ``name`` (created on first use).

        Args:
            name (str): The metric name (Prometheus rules: ``[a-zA-Z_:][a-zA-Z0-9_:]*``, at
                most 128 characters, not starting with ``__``).
            help (str): What it measures, at most 1000 characters (read at creation only).
            labels (Sequence[str]): Label names (at most 10, distinct, ``[a-zA-Z_][a-zA-Z0-9_]*``);
                with labels, record on ``.labels(...)`` series.
            max_series (int): The cap (>= 1) on label sets; past it, new label sets are counted
                in one ``__overflow__`` series (read at creation only).

        Raises:
            ValueError: If the name, labels, ``help`` or ``max_series`` is invalid, the name
                is another kind of metric or has other labels, or the node holds 1000 metrics
                already.
        """
        return self._get(Gauge, name, help, labels, max_series)  # type: ignore[return-value]

    def histogram(
        self,
        name: str,
        help: str = "",
        labels: Sequence[str] = (),
        *,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
        max_series: int = MAX_SERIES,
    ) -> Histogram:
        """The histogram ``name`` with these bucket upper bounds (created on first use).

        Args:
            name (str): The metric name (Prometheus rules: ``[a-zA-Z_:][a-zA-Z0-9_:]*``, at
                most 128 characters, not starting with ``__``).
            help (str): What it measures, at most 1000 characters (read at creation only).
            labels (Sequence[str]): Label names (at most 10, distinct, ``[a-zA-Z_][a-zA-Z0-9_]*``);
                with labels, record on ``.labels(...)`` series.
            max_series (int): The cap (>= 1) on label sets; past it, new label sets are counted
                in one ``__overflow__`` series (read at creation only).
            buckets (Sequence[float]): The bucket upper bounds: 1 to 100 finite numbers,
                strictly ascending (+Inf is implied); Prometheus's defaults, in seconds.

        Raises:
            ValueError: As ``counter``; also if ``buckets`` is empty, not ascending or not
                finite, or differs from the existing histogram's.
        """
        bounds = tuple(float(_check_amount(b, "bucket bound")) for b in buckets)
        if not bounds or len(bounds) > 100 or any(not math.isfinite(b) for b in bounds):
            raise ValueError(f"buckets must be 1 to 100 finite bounds, got {tuple(buckets)!r}")
        if any(b >= c for b, c in pairwise(bounds)):
            raise ValueError(f"buckets must be strictly ascending, got {bounds!r}")
        metric: Histogram = self._get(Histogram, name, help, labels, max_series, bounds)  # type: ignore[assignment]
        if metric.bounds != bounds:
            raise ValueError(f"histogram {name} exists with buckets {metric.bounds!r}")
        return metric

    def snapshot(self) -> tuple[MetricSnapshot, ...]:
        """Copy every metric's current values (for exporters), in creation order."""
        return tuple(metric.snapshot() for metric in self._table.metrics.values())


def metrics(where: Process | Node | None = None) -> Metrics:
    """The user metrics of a node (a process's node, a node, or the current node).

    Args:
        where (Process | Node | None): A process handle (its node), a node, or None for the
            current node.

    Raises:
        TypeError: If ``where`` is not a process handle, a node or None.
        RuntimeError: If ``where`` is None outside a running node.
    """
    return Metrics(_table(node_of(where)))
