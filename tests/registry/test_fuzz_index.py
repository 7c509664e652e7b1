"""Hostile ``_index.yaml`` files: only ``IndexFileError`` naming the file, never a hang.

Seeds are the examples' own index files (``examples/*/src/_index.yaml``), mutated as text
(control characters, anchors and aliases, self-containing ones too, brackets, huge numbers,
impossible dates, cut lines) and as data (an entry's field replaced by an extreme value); plus
random bytes, deep nesting and alias bombs. ``ACTORS_FUZZ=long`` runs many more examples.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry._exceptions import IndexFileError
from registry._loader import MAX_INDEX_BYTES, MAX_YAML_DEPTH, MAX_YAML_VALUES, load_dir, load_file

LONG = os.environ.get("ACTORS_FUZZ") == "long"
FUZZ = settings(
    max_examples=2000 if LONG else 60,
    deadline=None,
    derandomize=not LONG,
    suppress_health_check=list(HealthCheck),
)
EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*/src/_index.yaml"))
SEEDS = [path.read_text() for path in EXAMPLES]


@contextlib.contextmanager
def no_hang(seconds: float = 5.0) -> Iterator[None]:
    """Fail with TimeoutError if the block runs longer than ``seconds`` (SIGALRM)."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"hung for over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def billion_laughs() -> str:
    lines = ['version: "1.0"', "namespace: app", "entries: []", 'a: &a ["lol","lol","lol"]']
    for n in range(1, 10):
        prev, cur = chr(96 + n), chr(97 + n)
        lines.append(f"{cur}: &{cur} [{', '.join([f'*{prev}'] * 10)}]")
    return "\n".join(lines) + "\n"


INSERTS = st.sampled_from(
    [
        "\x00", "\x07", "\ufeff", "\t", "[", "{", "]", "}", "&a ", "*a", "<<: *a\n", "- ", ": ",
        "'", '"', "!!python/object/apply:os.system ['true']", "!!binary x", "2024-02-30",
        "9" * 5000, "1e400", "${env:NOPE}", "\n  - name: x\n    kind: process\n", "---\n", "...\n",
        "? ", "|", ">", "%YAML 1.1\n", "&e {self: *e}", "&s [*s]", "&m {<<: *m}",
    ]
)  # fmt: skip
EXTREMES = st.sampled_from(
    [
        None, True, 10**100, -(10**30), 1e308, float("inf"), "", "x" * 10_000, [], {},
        "1" * 400 + "h", "*/10 * * * * *", "61 * * * *", "0001-01-01T00:00:00+01:00",
        {"interval": "1" * 400 + "h"}, {"type": "cron.job", "cron": "{bad"}, [[[[[]]]]],
    ]
)  # fmt: skip


@st.composite
def mutated_text(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        how = draw(st.integers(0, 2))
        if how == 0:
            text = text[:at] + draw(INSERTS) + text[at:]
        elif how == 1:
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        else:
            line = draw(st.sampled_from(text.splitlines() or [""]))
            text = text[:at] + line + "\n" + text[at:]
    return text


@st.composite
def mutated_data(draw: st.DrawFn) -> str:
    document: Any = yaml.safe_load(draw(st.sampled_from(SEEDS)))
    entries = document["entries"]
    for _ in range(draw(st.integers(1, 3))):
        entry = draw(st.sampled_from(entries))
        key = draw(st.sampled_from([*entry, "meta", "extra"]))
        entry[key] = draw(EXTREMES)
    return yaml.safe_dump(document)


@pytest.fixture(name="app", scope="module")
def fixture_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of an example's folder, so ``file://`` sources next to the index exist."""
    folder = tmp_path_factory.mktemp("app")
    shutil.copytree(EXAMPLES[0].parent, folder, dirs_exist_ok=True)
    return folder


def check_load(path: Path) -> None:
    """Load ``path``: entries, or an IndexFileError whose every problem names the file."""
    error: IndexFileError | None = None
    with no_hang():
        try:
            load_file(path)
        except IndexFileError as exc:
            error = exc
    if error is not None:
        assert error.problems and str(error)
        for problem in error.problems:
            assert problem.file == str(path), problem


@pytest.mark.slow
class TestFuzzedIndexFiles:
    @FUZZ
    @given(text=st.one_of(mutated_text(), mutated_data()))
    def test_mutated_examples(self, app: Path, text: str) -> None:
        path = app / "_index.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        check_load(path)

    @FUZZ
    @given(raw=st.binary(max_size=200))
    def test_random_bytes(self, app: Path, raw: bytes) -> None:
        path = app / "_index.yaml"
        path.write_bytes(raw)
        check_load(path)


class TestLimits:
    def test_examples_load(self) -> None:
        """The seeds themselves are valid (so mutations start from real files)."""
        assert len(EXAMPLES) >= 3
        for path in EXAMPLES:
            assert load_file(path)

    @pytest.mark.slow
    def test_deep_nesting(self, tmp_path: Path) -> None:
        path = tmp_path / "_index.yaml"
        path.write_text('version: "1.0"\nnamespace: app\nentries: ' + "[" * 100_000)
        with no_hang(), pytest.raises(IndexFileError, match=f"nested deeper than {MAX_YAML_DEPTH}"):
            load_file(path)
        limit = 'version: "1.0"\nnamespace: app\nentries: []\nx: ' + "[" * 63 + "]" * 63 + "\n"
        path.write_text(limit)
        with pytest.raises(IndexFileError, match="unknown key 'x'"):
            load_file(path)  # 64 levels is within the limit: only the unknown key is reported

    def test_billion_laughs_is_refused_at_once(self, tmp_path: Path) -> None:
        path = tmp_path / "_index.yaml"
        path.write_text(billion_laughs())
        started = time.monotonic()
        with pytest.raises(IndexFileError, match=f"more than {MAX_YAML_VALUES} values") as info:
            load_file(path)
        assert time.monotonic() - started < 1.0
        assert str(info.value).startswith(f"{path}:")

    def test_nul_character_names_file_and_line(self, tmp_path: Path) -> None:
        path = tmp_path / "_index.yaml"
        path.write_text('version: "1.0"\nnamespace: app\nentries: [\x00]\n')
        with pytest.raises(IndexFileError) as info:
            load_file(path)
        assert (
            str(info.value)
            == f"{path}:3: malformed YAML: character U+0000 is not allowed (not printable)"
        )

    @pytest.mark.parametrize(
        ("scalar", "message"),
        [("2024-02-30", "day is out of range for month"), ("9" * 5000, "integer string")],
    )
    def test_unbuildable_scalars(self, tmp_path: Path, scalar: str, message: str) -> None:
        path = tmp_path / "_index.yaml"
        path.write_text(f'version: "1.0"\nnamespace: app\nentries: []\nwhen: {scalar}\n')
        with pytest.raises(IndexFileError, match=message):
            load_file(path)

    def test_size_cap(self, tmp_path: Path) -> None:
        path = tmp_path / "_index.yaml"
        path.write_text("#" * (MAX_INDEX_BYTES + 1))
        with pytest.raises(IndexFileError, match=f"over the limit of {MAX_INDEX_BYTES}"):
            load_file(path)

    def test_fifo_and_folder_named_index_do_not_block(self, tmp_path: Path) -> None:
        os.mkfifo(tmp_path / "_index.yaml")
        (tmp_path / "sub" / "_index.yaml").mkdir(parents=True)
        with no_hang(), pytest.raises(IndexFileError) as info:
            load_dir(tmp_path)
        assert str(info.value).count("cannot read the file: not a regular file") == 2
