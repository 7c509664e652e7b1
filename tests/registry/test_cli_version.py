"""``actors --version`` prints ``actors.__version__``."""

from __future__ import annotations

import pytest

import actors
from registry._cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """``--version`` prints the package version and exits 0, before any subcommand."""
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out == f"actors {actors.__version__}\n"
