"""``python -m bench._faults``: each workload runs and reports figures that make sense."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from bench import _faults


@pytest.fixture(autouse=True)
def _keep_log_level() -> Iterator[None]:
    """``main`` quiets the ``actors`` logger for its process; give the next test it back."""
    logger = logging.getLogger("actors")
    level = logger.level
    yield
    logger.setLevel(level)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    _faults.main(list(argv))
    result: dict[str, object] = json.loads(capsys.readouterr().out)
    return result


def test_chain(capsys: pytest.CaptureFixture[str]) -> None:
    line = run(capsys, "chain", "300")
    assert line["workload"] == "chain" and line["n"] == 300
    assert isinstance(line["exit_text_chars"], int) and line["exit_text_chars"] < 200
    assert str(line["exit_text"]).endswith("300 links away")


def test_tree(capsys: pytest.CaptureFixture[str]) -> None:
    line = run(capsys, "tree", "200", "--fanout", "3")
    assert isinstance(line["cascade_s"], float) and line["cascade_s"] > 0


@pytest.mark.parametrize("watch", ["none", "tasks", "callback"])
def test_shutdown(capsys: pytest.CaptureFixture[str], watch: str) -> None:
    line = run(capsys, "shutdown", "500", "--watch", watch)
    assert (line["returned"], line["terminated"], line["watch"]) == (500, 0, watch)


def test_bad_size() -> None:
    with pytest.raises(SystemExit):
        _faults.main(["chain", "0"])
