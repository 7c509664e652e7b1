"""Every control test gets its own runtime folder (``ACTORS_RUNTIME_DIR``): parallel runs and
the developer's own nodes never see each other. The folder is short (a Unix socket path is
limited to about 100 bytes) and made on first use, as a node would."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="actors-t"))
    folder = base / "rt"
    monkeypatch.setenv("ACTORS_RUNTIME_DIR", str(folder))
    yield folder
    shutil.rmtree(base, ignore_errors=True)
