"""The docs stay true: every code block meant to run runs, every relative link resolves.

Fenced blocks in README.md and docs/*.md follow these tags:

- ```` ```python ````: a complete program; it is run as ``python FILE`` in a fresh folder and must
  exit 0. A ```` ```text output ```` block right after it is its exact stdout.
- ```` ```python no-run ````: not run (a fragment); it must still compile.
- ```` ```LANG file=PATH ````: written to PATH (relative to the folder the document's programs
  run in) before they run; the getting-started app is checked by the tests below.
- any other block (``sh``, ``text``, ``yaml``, ``json``, none) is shown, not run.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

import registry

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
GUIDE = ROOT / "docs" / "getting-started.md"
FENCE = re.compile(r"^(`{3,})([^`]*)$")  # CommonMark: no backtick in the info string
PYTHON_TAGS = {"", "no-run"}


@attrs.frozen
class Block:
    doc: Path
    line: int
    lang: str
    tags: tuple[str, ...]
    text: str

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"

    @property
    def file(self) -> str | None:
        return next((t.removeprefix("file=") for t in self.tags if t.startswith("file=")), None)


def blocks(doc: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, in order."""
    found: list[Block] = []
    lines = doc.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if opened is None:
            i += 1
            continue
        info = opened.group(2).split()
        start = i + 1
        i = start
        closing = re.compile(rf"^{opened.group(1)}`*\s*$")
        while i < len(lines) and not closing.match(lines[i]):
            i += 1
        lang, tags = (info[0], tuple(info[1:])) if info else ("", ())
        found.append(Block(doc, start, lang, tags, "\n".join(lines[start:i]) + "\n"))
        i += 1
    return found


def programs() -> Iterator[tuple[Block, str | None]]:
    """Every untagged python block, with the expected stdout if a ``text output`` block follows."""
    for doc in DOCS:
        found = blocks(doc)
        for index, block in enumerate(found):
            if block.lang == "python" and not block.tags:
                after = found[index + 1] if index + 1 < len(found) else None
                expected = None
                if after is not None and (after.lang, after.tags) == ("text", ("output",)):
                    expected = after.text
                yield block, expected


def write_files(doc: Path, folder: Path) -> None:
    for block in blocks(doc):
        if block.file is not None:
            path = folder / block.file
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block.text, encoding="utf-8")


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}


class TestBlocks:
    def test_every_python_block_is_tagged_known(self) -> None:
        """A python block is a program, ``no-run`` or a ``file=``; a typo never skips a block."""
        for doc in DOCS:
            for block in blocks(doc):
                if block.lang != "python" or block.file is not None:
                    continue
                assert " ".join(block.tags) in PYTHON_TAGS, f"{block.where}: tags {block.tags}"

    def test_no_run_and_file_blocks_compile(self) -> None:
        """Blocks that are not run as programs are still valid Python."""
        for doc in DOCS:
            for block in blocks(doc):
                if block.lang == "python" and block.tags:
                    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
                    compile(block.text, block.where, "exec", flags=flags, dont_inherit=True)

    def test_the_docs_have_programs(self) -> None:
        """The README's two programs and the guide's four are found (the parser works)."""
        found = [block.where.split(":")[0] for block, _ in programs()]
        assert found.count("README.md") == 2
        assert found.count("docs/getting-started.md") == 4

    @pytest.mark.slow
    @pytest.mark.real_time
    @pytest.mark.parametrize(
        ("block", "expected"), list(programs()), ids=lambda value: getattr(value, "where", "")
    )
    def test_program_runs(self, block: Block, expected: str | None, tmp_path: Path) -> None:
        """Each program runs as written (a file of its own, ``python FILE``) and exits 0."""
        write_files(block.doc, tmp_path)
        script = tmp_path / "program.py"
        script.write_text(block.text, encoding="utf-8")
        done = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path,
            env=env(), timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"{block.where}:\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr or "asked to crash" in done.stderr, done.stderr
        if expected is not None:
            assert done.stdout == expected, block.where


@pytest.mark.slow
@pytest.mark.real_time
class TestGettingStartedApp:
    def test_actors_run_ticks_and_stops_clean(self, tmp_path: Path) -> None:
        """``actors run myapp``: the service answers the job by name; Ctrl+C exits 0."""
        write_files(GUIDE, tmp_path)
        actors_cli = Path(sys.executable).parent / "actors"
        proc = subprocess.Popen(
            [str(actors_cli), "run", "myapp"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=tmp_path, env=env(),
        )  # fmt: skip
        assert proc.stderr is not None
        seen = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            seen.append(line)
            if "TICK" in line or not line:
                break
        assert 'TICK               entry=app:job.hello run=1 result="hello, cron"' in seen[-1], seen
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert err.rstrip().endswith("App stopped        clean=true")

    def test_a_typo_in_the_interval_exits_2(self, tmp_path: Path) -> None:
        """The mistake the guide suggests: exit 2 with the message it quotes."""
        write_files(GUIDE, tmp_path)
        index = tmp_path / "myapp" / "_index.yaml"
        index.write_text(index.read_text().replace("interval: 2s", "interval: 2 sec"))
        actors_cli = Path(sys.executable).parent / "actors"
        done = subprocess.run(
            [str(actors_cli), "run", "myapp"], capture_output=True, text=True, cwd=tmp_path,
            env=env(), timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 2
        quoted = "myapp/_index.yaml, entry app:job.hello, field meta.interval: invalid duration"
        assert quoted in GUIDE.read_text() and quoted in done.stderr

    def test_its_tests_pass(self, tmp_path: Path) -> None:
        """``python -m pytest -q myapp`` passes, as the guide says."""
        write_files(GUIDE, tmp_path)
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "myapp"],
            capture_output=True, text=True, cwd=tmp_path, env=env(), timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "3 passed" in done.stdout


@pytest.mark.slow
@pytest.mark.real_time
def test_the_testing_guide_tests_pass(tmp_path: Path) -> None:
    """docs/testing.md's first example is a complete test file, and it passes."""
    write_files(ROOT / "docs" / "testing.md", tmp_path)
    assert (tmp_path / "test_echo.py").exists()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_echo.py"],
        capture_output=True, text=True, cwd=tmp_path, env=env(), timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_the_site_renders_tagged_fences() -> None:
    """The site's hook turns this file's fence tags into what Markdown renders as code.

    A fence such as ```` ```python file=x.py ```` is not code to Python-Markdown's fences (an
    unknown attribute): without the hook it shows as a paragraph of backticks.
    """
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "_hooks.py")
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    page = "```python file=app/x.py\nx = 1\n```\n\n```text output\n1\n```\n\n````python no-run\n"
    assert hooks.on_page_markdown(page) == (
        '```python title="app/x.py"\nx = 1\n```\n\n```text\n1\n```\n\n````python\n'
    )
    for doc in DOCS[1:]:  # README.md is not part of the site
        rendered = hooks.on_page_markdown(doc.read_text(encoding="utf-8"))
        for line in rendered.splitlines():
            if opened := FENCE.match(line):
                info = opened.group(2).split()
                assert len(info) <= 1 or info[1].startswith("title="), (doc, line)


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
MENTION = re.compile(r"`((?:[\w.-]+/)*[\w.-]+\.md)`")


class TestLinks:
    def test_relative_links_resolve(self) -> None:
        """Every relative Markdown link in README.md and docs/ points at an existing file."""
        broken = []
        for doc in DOCS:
            for target in LINK.findall(doc.read_text(encoding="utf-8")):
                if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                    continue
                if not (doc.parent / target.split("#")[0]).exists():
                    broken.append(f"{doc.relative_to(ROOT)}: {target}")
        assert broken == []

    def test_mentioned_markdown_files_exist(self) -> None:
        """A `name.md` in backticks (docs, README, docstrings) names a file that exists.

        Paths are read from the repository root, then from the mentioning file's folder.
        """
        sources = [*DOCS, *ROOT.glob("actors/**/*.py"), *ROOT.glob("registry/**/*.py")]
        broken = []
        for source in sources:
            text = source.read_text(encoding="utf-8")
            for name in MENTION.findall(text) + re.findall(r"docs/[\w.-]+\.md", text):
                if name.endswith("HEARTBEAT.md"):  # a data file the durable cron example creates
                    continue
                if not ((ROOT / name).exists() or (source.parent / name).exists()):
                    broken.append(f"{source.relative_to(ROOT)}: {name}")
        assert broken == []


@pytest.mark.parametrize("doc", ["README.md", "docs/examples.md"])
def test_readme_says_how_each_example_runs(doc: str) -> None:
    """Each example is listed with the right command: an app folder or a python program.

    An app may be listed as ``actors run examples/NAME -x ENTRY``: ENTRY must then be one of
    its ``process`` entries. The README and the examples page both list every example.
    """
    readme = (ROOT / doc).read_text(encoding="utf-8")
    for example in sorted(p for p in (ROOT / "examples").iterdir() if p.is_dir()):
        is_app = (example / "_index.yaml").exists() or (example / "src" / "_index.yaml").exists()
        app_cmd = f"`actors run examples/{example.name}`"
        py_cmd = f"`python examples/{example.name}/main.py`"
        if is_app:
            programs = re.findall(rf"`actors run examples/{example.name} -x ([\w.:-]+)`", readme)
            assert app_cmd in readme or programs, example.name
            assert py_cmd not in readme, example.name
            root = example / "src" if (example / "src").is_dir() else example
            processes = {e.id for e in registry.load_dir(root) if e.kind == "process"}
            assert set(programs) <= processes, (example.name, programs)
        else:
            assert (example / "main.py").exists() and py_cmd in readme, example.name
            assert app_cmd not in readme, example.name
