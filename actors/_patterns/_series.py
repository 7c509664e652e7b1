"""User metrics: the counter, gauge and histogram types, and the snapshots exporters read.

Recording is an attribute update on the series object (no lock, no clock, no message): with no
exporter running a metric costs what ``x += 1`` costs. Exporters (the control endpoint's
``metrics`` request, the Prometheus extra) call ``snapshot()``, which copies the values into
frozen rows. Names and labels follow Prometheus's rules and are bounded: at most
``MAX_METRICS`` metrics per node, ``MAX_LABELS`` label names per metric, and ``max_series``
label sets per metric; label sets past that cap are counted into one overflow series whose
label values are all ``"__overflow__"`` (and a warning is logged once per metric).
"""

from __future__ import annotations

import logging
import math
import re
from bisect import bisect_left
from typing import Literal, final

import attrs

logger = logging.getLogger("actors")

MAX_METRICS = 1000
"""Metrics one node may hold."""
MAX_LABELS = 10
"""Label names one metric may have."""
MAX_SERIES = 1000
"""The default cap on label sets per metric (``max_series``)."""
OVERFLOW = "__overflow__"
"""The label value of the series that counts label sets past the cap."""
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Histogram bucket bounds in seconds (Prometheus's defaults); +Inf is implied."""
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,127}")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]{0,63}")
Kind = Literal["counter", "gauge", "histogram"]


@attrs.frozen
class SeriesSnapshot:
    """One label set of a metric, as read by ``snapshot()``."""

    labels: tuple[str, ...]
    """The label values, in the order of the metric's label names."""
    value: float
    """The counter's or gauge's value; a histogram's sum of observations."""
    count: int = 0
    """Observations (histograms)."""
    buckets: tuple[tuple[float, int], ...] = ()
    """``(upper bound, cumulative count)`` per bucket, +Inf last (histograms)."""


@attrs.frozen
class MetricSnapshot:
    """One metric and all its series."""

    name: str
    """The metric name."""
    kind: Kind
    """``"counter"``, ``"gauge"`` or ``"histogram"``."""
    help: str
    """What it measures (may be empty)."""
    label_names: tuple[str, ...]
    """Its label names (empty: one series with no labels)."""
    series: tuple[SeriesSnapshot, ...]
    """One row per label set, in first-use order (the overflow series among them)."""
    overflowed: int
    """Label sets that went to the overflow series because of the cap."""


def _check_name(name: object, what: str, pattern: re.Pattern[str]) -> str:
    if type(name) is not str or pattern.fullmatch(name) is None or name.startswith("__"):
        raise ValueError(f"invalid {what} {name!r}: expected {pattern.pattern}, not starting '__'")
    return name


def _check_amount(amount: object, what: str) -> float:
    if isinstance(amount, bool) or not isinstance(amount, int | float) or math.isnan(amount):
        raise ValueError(f"{what} must be a number, got {amount!r}")
    return float(amount)


class _Metric:
    __slots__ = (
        "_children",
        "_family",
        "_labels",
        "help",
        "label_names",
        "max_series",
        "name",
        "overflowed",
    )
    kind: Kind

    def __init__(self, name: str, help: str, label_names: tuple[str, ...], max_series: int) -> None:
        self.name = name
        self.help = help
        self.label_names = label_names
        self.max_series = max_series
        self.overflowed = 0
        self._children: dict[tuple[str, ...], _Metric] | None = {} if label_names else None
        self._family: _Metric | None = None
        self._labels: tuple[str, ...] = ()

    def __repr__(self) -> str:
        labels = ",".join(f"{n}={v!r}" for n, v in zip(self._names(), self._labels, strict=True))
        return f"<{type(self).__name__} {self.name}{{{labels}}}>"

    def _names(self) -> tuple[str, ...]:
        return self.label_names if self._family is None else self._family.label_names

    def _labelled(self, values: tuple[str, ...]) -> _Metric:
        children = self._children
        if children is None:
            raise ValueError(f"metric {self.name} has no labels")
        child = children.get(values)
        if child is not None:
            return child
        if len(values) != len(self.label_names):
            raise ValueError(
                f"metric {self.name} has labels {self.label_names}, got {len(values)} values"
            )
        for value in values:
            if type(value) is not str or len(value) > 200:
                raise ValueError(
                    f"label values of {self.name} must be strings of at most 200 characters,"
                    f" got {value!r:.60}"
                )
        if len(children) >= self.max_series:
            if not self.overflowed:
                logger.warning(
                    "metric %s has more than %d label sets: more are counted as %s",
                    self.name,
                    self.max_series,
                    OVERFLOW,
                )
            self.overflowed += 1
            values = (OVERFLOW,) * len(values)
            child = children.get(values)
            if child is not None:
                return child
        child = self._child()
        child._family = self
        child._labels = values
        children[values] = child
        return child

    def _child(self) -> _Metric:
        return type(self)(self.name, self.help, (), self.max_series)

    def _no_labels(self) -> None:
        raise ValueError(f"metric {self.name} has labels {self.label_names}: use .labels(...)")

    def _read(self) -> SeriesSnapshot:
        raise NotImplementedError

    def snapshot(self) -> MetricSnapshot:
        """Copy the current values of every series (label sets in first-use order)."""
        children = self._children
        series = (self,) if children is None else tuple(children.values())
        return MetricSnapshot(
            self.name,
            self.kind,
            self.help,
            self.label_names,
            tuple(s._read() for s in series),
            self.overflowed,
        )


@final
class Counter(_Metric):
    """A value that only goes up (requests served, errors). ``inc()`` it.

    With label names, record on a series: ``counter.labels("GET").inc()``.

    Made by :meth:`Metrics.counter`, not directly.

    Args:
        name (str): The metric name.
        help (str): What it measures.
        label_names (tuple[str, ...]): Its label names (empty: record on the metric itself).
        max_series (int): The cap on label sets.
    """

    __slots__ = ("value",)
    kind: Kind = "counter"

    def __init__(self, name: str, help: str, label_names: tuple[str, ...], max_series: int) -> None:
        super().__init__(name, help, label_names, max_series)
        self.value = 0.0
        """The current count."""

    def labels(self, *values: str) -> Counter:
        """The series for these label values (made on first use, then cached).

        Args:
            *values (str): One value per label name, in their order (at most 200 characters
                each).

        Raises:
            ValueError: If the metric has no labels, the number of values differs from the
                label names, or a value is not a string of at most 200 characters.
        """
        return self._labelled(values)  # type: ignore[return-value]

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` (>= 0).

        Args:
            amount (float): What to add.

        Raises:
            ValueError: If ``amount`` is negative or not a number, or the counter has labels.
        """
        if self._children is not None:
            self._no_labels()
        if amount.__class__ is not int and amount.__class__ is not float:
            amount = _check_amount(amount, "counter increment")
        if not amount >= 0:
            raise ValueError(f"a counter only goes up: inc({amount!r}) on {self.name}")
        self.value += amount

    def _read(self) -> SeriesSnapshot:
        return SeriesSnapshot(self._labels, self.value)


@final
class Gauge(_Metric):
    """A value that goes up and down (queue length, connected users): ``set``/``inc``/``dec``.

    Made by :meth:`Metrics.gauge`, not directly.

    Args:
        name (str): The metric name.
        help (str): What it measures.
        label_names (tuple[str, ...]): Its label names (empty: record on the metric itself).
        max_series (int): The cap on label sets.
    """

    __slots__ = ("value",)
    kind: Kind = "gauge"

    def __init__(self, name: str, help: str, label_names: tuple[str, ...], max_series: int) -> None:
        super().__init__(name, help, label_names, max_series)
        self.value = 0.0
        """The current value."""

    def labels(self, *values: str) -> Gauge:
        """The series for these label values (made on first use, then cached).

        Args:
            *values (str): One value per label name, in their order (at most 200 characters
                each).

        Raises:
            ValueError: If the metric has no labels, the number of values differs from the
                label names, or a value is not a string of at most 200 characters.
        """
        return self._labelled(values)  # type: ignore[return-value]

    def set(self, value: float) -> None:
        """Set the value.

        Args:
            value (float): The new value (any number but NaN).

        Raises:
            ValueError: If ``value`` is not a number or is NaN, or the gauge has labels.
        """
        if self._children is not None:
            self._no_labels()
        if (value.__class__ is not float and value.__class__ is not int) or value != value:
            value = _check_amount(value, "gauge value")
        self.value = value

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` (may be negative).

        Args:
            amount (float): What to add.

        Raises:
            ValueError: If ``amount`` is not a number or is NaN, or the gauge has labels.
        """
        if self._children is not None:
            self._no_labels()
        if (amount.__class__ is not float and amount.__class__ is not int) or amount != amount:
            amount = _check_amount(amount, "gauge increment")
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        """Subtract ``amount`` (may be negative).

        Args:
            amount (float): What to subtract.

        Raises:
            ValueError: If ``amount`` is not a number or is NaN, or the gauge has labels.
        """
        if (amount.__class__ is not float and amount.__class__ is not int) or amount != amount:
            amount = _check_amount(amount, "gauge decrement")
        self.inc(-amount)

    def _read(self) -> SeriesSnapshot:
        return SeriesSnapshot(self._labels, self.value)


@final
class Histogram(_Metric):
    """A distribution (latencies, sizes): ``observe`` values; read as counts per bucket.

    Made by :meth:`Metrics.histogram`, not directly.

    Args:
        name (str): The metric name.
        help (str): What it measures.
        label_names (tuple[str, ...]): Its label names (empty: record on the metric itself).
        max_series (int): The cap on label sets.
        bounds (tuple[float, ...]): The bucket upper bounds, ascending (+Inf implied).
    """

    __slots__ = ("bounds", "count", "counts", "sum")
    kind: Kind = "histogram"

    def __init__(
        self,
        name: str,
        help: str,
        label_names: tuple[str, ...],
        max_series: int,
        bounds: tuple[float, ...] = DEFAULT_BUCKETS,
    ) -> None:
        super().__init__(name, help, label_names, max_series)
        self.bounds = bounds
        """The bucket upper bounds, ascending (+Inf implied)."""
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        """The sum of the observed values."""
        self.count = 0
        """How many values were observed."""

    def labels(self, *values: str) -> Histogram:
        """The series for these label values (made on first use, then cached).

        Args:
            *values (str): One value per label name, in their order (at most 200 characters
                each).

        Raises:
            ValueError: If the metric has no labels, the number of values differs from the
                label names, or a value is not a string of at most 200 characters.
        """
        return self._labelled(values)  # type: ignore[return-value]

    def _child(self) -> _Metric:
        return Histogram(self.name, self.help, (), self.max_series, self.bounds)

    def observe(self, value: float) -> None:
        """Count ``value`` in its bucket (the first bound >= value) and in the sum.

        Args:
            value (float): The observation (any number but NaN).

        Raises:
            ValueError: If ``value`` is not a number or is NaN, or the histogram has labels.
        """
        if self._children is not None:
            self._no_labels()
        if (value.__class__ is not float and value.__class__ is not int) or value != value:
            value = _check_amount(value, "observed value")
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def _read(self) -> SeriesSnapshot:
        running = 0
        buckets = []
        for bound, n in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += n
            buckets.append((bound, running))
        return SeriesSnapshot(self._labels, self.sum, self.count, tuple(buckets))
