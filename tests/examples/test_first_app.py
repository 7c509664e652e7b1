"""The first_app example and its tutorial (docs/tutorials/first-app.md): the page quotes the
files as they are, the commands it shows work and print what it says, and the app's own tests
(the tutorial's last step) pass as part of this suite."""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import actors
import helpers
import programs

APP = programs.EXAMPLES / "first_app"
PAGE = programs.ROOT / "docs" / "tutorials" / "first-app.md"
FENCE = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```\n", re.M | re.S)


def _own_tests() -> dict[str, object]:
    spec = importlib.util.spec_from_file_location("first_app_tests", APP / "test_first_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: value for name, value in vars(module).items() if name.startswith("test_")}


# The app's own tests run here too, on this suite's virtual clock.
globals().update(_own_tests())


def fences() -> list[tuple[str, str, str]]:
    """The page's fenced blocks: (language, info after it, text)."""
    return FENCE.findall(PAGE.read_text(encoding="utf-8"))


def shown_after(marker: str) -> list[str]:
    """The lines of the first ``text`` block after the first place ``marker`` appears."""
    page = PAGE.read_text(encoding="utf-8")
    start = page.index(marker)
    found = (m for m in FENCE.finditer(page) if m.start() > start and m.group(1) == "text")
    return next(found).group(3).splitlines()


def normalized(line: str) -> str:
    """A log line without what changes between runs (load time, socket path)."""
    return re.sub(r"\b(seconds|path)=\S+", r"\1=...", line.rstrip())


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the app as the tutorial makes it (``first_app/``), in the current folder."""
    folder = tmp_path / "first_app"
    shutil.copytree(APP, folder, ignore=shutil.ignore_patterns("__pycache__", "README.md"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COUNTER_MAX_PAGES", raising=False)
    return folder


def run_virtual(monkeypatch: pytest.MonkeyPatch, *, stop_at: float) -> tuple[int, str]:
    """``actors run first_app`` in process on virtual time, Ctrl+C at ``stop_at`` seconds."""
    args = argparse.Namespace(dir="first_app", grace=None, log_level="INFO")
    return helpers.run_app_cli_virtual(monkeypatch, args, signals_at=(stop_at,))


class TestPage:
    def test_the_page_quotes_every_file_as_it_is(self) -> None:
        """Each ``file=first_app/...`` block is that file of examples/; each file is quoted."""
        quoted = {}
        for _, info, text in fences():
            path = next((t[5:] for t in info.split() if t.startswith("file=")), None)
            if path is not None:
                quoted[f"examples/{path}"] = text
        files = {
            str(path.relative_to(programs.ROOT))
            for path in APP.rglob("*")
            if path.is_file() and path.name != "README.md" and "__pycache__" not in path.parts
        }
        assert set(quoted) == files
        for path, text in quoted.items():
            assert (programs.ROOT / path).read_text(encoding="utf-8") == text, path

    def test_the_page_runs_the_app_it_builds(self) -> None:
        """The commands name the folder the page makes (not a path of this repository)."""
        text = PAGE.read_text(encoding="utf-8")
        assert "mkdir -p first_app/src" in text
        assert "source .venv/bin/activate" in text  # bare `actors` and `python` need it
        assert f"actors --version                # prints: actors {actors.__version__}" in text


class TestRun:
    def test_run_ticks_and_ctrl_c_stops_clean(
        self, app: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The start, the two ticks and the stop the page shows, in order; exit 0."""
        code, out = run_virtual(monkeypatch, stop_at=11)
        assert code == 0, out
        lines = [normalized(line) for line in out.splitlines()]
        started = [normalized(x) for x in shown_after("## 5. Run it")]
        started = [x for x in started if not x.startswith("INFO  Control socket")]  # no socket
        stopped = [normalized(x) for x in shown_after("Press Ctrl+C")[1:] if x != "^C"]
        for expected in (started, stopped):
            assert set(expected) <= set(lines), set(expected) - set(lines)  # each was logged
            # ... and those of one process (the app's main, the service manager) in this order;
            # lines of different processes may interleave either way.
            ordered = [x for x in expected if re.search(r"  (App |TICK|Shutting)|service ", x)]
            at = [lines.index(x) for x in ordered]
            assert at == sorted(at), ordered
        assert lines[-1] == "INFO  App stopped        clean=true"
        assert sum("TICK" in line for line in lines) == 2

    def test_a_typo_in_the_interval_exits_2_as_shown(
        self, app: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``interval: 5 sec``: exit 2, the two lines the page quotes, no traceback."""
        index = app / "src" / "_index.yaml"
        index.write_text(index.read_text().replace("interval: 5s}", "interval: 5 sec}"))
        code, out = run_virtual(monkeypatch, stop_at=1)
        assert code == 2
        assert out.splitlines() == shown_after("Change `interval: 5s`")

    def test_a_bad_variable_crashes_the_counter_and_it_is_retried(
        self, app: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``COUNTER_MAX_PAGES=lots``: the counter crashes naming it and is restarted."""
        monkeypatch.setenv("COUNTER_MAX_PAGES", "lots")
        code, out = run_virtual(monkeypatch, stop_at=4)
        quoted = "env variable COUNTER_MAX_PAGES (app:max_pages): 'lots' is not an integer"
        quoted = f'EnvError("{quoted}")'
        assert quoted in PAGE.read_text(encoding="utf-8")
        assert f"service failed name=app:counter pid={{main|0x00002}} error={quoted}" in out
        assert "attempt=2" in out
        assert code == 0, out  # the crash loop is contained: Ctrl+C still stops it cleanly


def commands() -> list[str]:
    """The inspection commands the page shows (``actors ...`` lines other than ``run``)."""
    found = []
    for lang, _, text in fences():
        if lang == "sh":
            for line in text.splitlines():
                line = line.split("  #")[0].strip()
                if line.startswith("actors ") and not line.startswith(("actors run", "actors --")):
                    found.append(line)
    return found


@pytest.mark.slow
@pytest.mark.real_time
class TestForReal:
    """The page's commands in a shell's words: subprocesses, from the folder above the app."""

    def test_the_commands_against_a_running_app(self, app: Path) -> None:
        """``actors run first_app``; ps, tree, call and state answer; Ctrl+C exits 0."""
        assert len(commands()) == 6, commands()
        bin_dir = Path(sys.executable).parent
        env = {**os.environ, "PYTHONPATH": str(programs.ROOT), "PYTHONUNBUFFERED": "1"}
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
        proc = subprocess.Popen(
            ["actors", "run", "first_app"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, cwd=app.parent, env=env,
        )  # fmt: skip
        assert proc.stderr is not None
        stderr = proc.stderr
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(stderr), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 30
            while not any("Control socket" in line for line in list(lines)):
                assert time.monotonic() < deadline and proc.poll() is None, lines
                time.sleep(0.05)
            outputs = []
            for command in commands():
                done = subprocess.run(
                    command, shell=True, capture_output=True, text=True, cwd=app.parent,
                    env=env, timeout=30, check=False,
                )  # fmt: skip
                assert done.returncode == 0, (command, done.stderr)
                outputs.append(done.stdout)
            bad = subprocess.run(
                "actors call --app first_app app:counter hit 42", shell=True, capture_output=True,
                text=True, cwd=app.parent, env=env, timeout=30, check=False,
            )  # fmt: skip
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            finally:
                if proc.poll() is None:
                    proc.kill()
                reader.join(timeout=10)
                stderr.close()
        err = "".join(lines)
        ps, tree, one, two, top, state = outputs
        assert ps.split()[:3] == ["PID", "PARENT", "NAME"] and "app:counter" in ps
        assert "  app:counter  [service]  {main|0x00002}  running  restarts 0" in tree
        assert (one, two) == ("1\n", "2\n")
        assert top.startswith('[["home",2]')
        assert "server counter.Counter" in state and "'home': 2" in state
        assert bad.returncode == 1
        assert " ".join(bad.stderr.split()) in " ".join(PAGE.read_text().split())
        assert proc.returncode == 0, err
        assert err.rstrip().endswith("App stopped        clean=true")

    def test_its_tests_pass_outside_this_repository(self, app: Path) -> None:
        """``python -m pytest -q first_app`` from the folder above: 6 passed, as shown."""
        env = {**os.environ, "PYTHONPATH": str(programs.ROOT)}
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "first_app"],
            capture_output=True, text=True, cwd=app.parent, env=env, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "6 passed" in done.stdout
