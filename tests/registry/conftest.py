"""Fixtures shared by the registry tests: index files in tmp_path and sys.modules hygiene."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture(name="write")
def _write(tmp_path: Path) -> Callable[..., Path]:
    """Return ``write(relative_path, text)`` that writes dedented text below tmp_path."""

    def write(relative: str, text: str) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture(autouse=True)
def _forget_new_modules() -> Iterator[None]:
    """Drop modules a test imported (user job files), so tests never share module state."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith(("_registry_source_", "regtest_")):
            del sys.modules[name]
