"""The patterns bench runs (a tiny size) and reports every figure for both systems."""

from __future__ import annotations

import json

import pytest

from bench import _patterns


def test_tiny_run_reports_figures_and_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    """50 members, 2 events, 1 round: positive figures, ratios = actors / trio."""
    _patterns.main(["--n", "50", "--events", "2", "--rounds", "1", "--json"])
    result = json.loads(capsys.readouterr().out)
    figures = {"join_us", "leave_us", "publish_call_us", "publish_us"}
    for system in ("actors", "trio", "ratio"):
        assert set(result[system]) == figures
        assert all(value > 0 for value in result[system].values())
    for key in figures:
        assert result["ratio"][key] == pytest.approx(result["actors"][key] / result["trio"][key])
