"""Tests for the ``actors cron`` command line (actors/cron/_cli.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from actors.cron import JobStore
from registry._cli import main

ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``actors ARGV`` in-process; return (exit code, stdout, stderr)."""
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(name="data")
def fixture_data(tmp_path: Path) -> str:
    (tmp_path / "data" / "jobs").mkdir(parents=True)
    return str(tmp_path / "data")


def add(capsys: pytest.CaptureFixture[str], data: str, name: str, *extra: str) -> str:
    code, out, err = run(
        capsys, "cron", "add", "--dir", data, "--name", name, "--cron", "*/5 * * * *",
        "--target", "agent", "--prompt", "hello", *extra,
    )  # fmt: skip
    assert (code, err) == (0, "")
    return out.strip()


class TestCrud:
    def test_add_prints_the_id_and_list_shows_it(
        self, capsys: pytest.CaptureFixture[str], data: str
    ) -> None:
        """add prints the new id; list prints one line per job with its flags."""
        assert add(capsys, data, "Remind Me") == "remind-me"
        assert add(capsys, data, "Remind Me", "--oneshot") == "remind-me-2"
        code, out, _ = run(capsys, "cron", "list", "--dir", data)
        assert code == 0
        assert [line.split(" next=")[0] for line in out.splitlines()] == [
            "remind-me: 'Remind Me' (*/5 * * * *) -> agent",
            "remind-me-2: 'Remind Me' (*/5 * * * *) -> agent [oneshot]",
        ]

    def test_list_json_is_an_array_of_job_objects(
        self, capsys: pytest.CaptureFixture[str], data: str
    ) -> None:
        """list --json prints the stored job objects, options included."""
        add(capsys, data, "hb", "--payload", '{"k": [1]}', "--catch-up", "once",
            "--heartbeat-file", "HEARTBEAT.md")  # fmt: skip
        code, out, _ = run(capsys, "cron", "list", "--dir", data, "--json")
        [job] = json.loads(out)
        assert code == 0
        stored = JobStore(data).get("hb").to_json()
        assert {key: job[key] for key in stored} == stored
        assert (job["payload"], job["catch_up"], job["heartbeat_file"]) == (
            {"k": [1]},
            "once",
            "HEARTBEAT.md",
        )

    def test_enable_disable_remove(self, capsys: pytest.CaptureFixture[str], data: str) -> None:
        """disable, enable and remove change the job file and print the id."""
        add(capsys, data, "j")
        assert run(capsys, "cron", "disable", "--dir", data, "j") == (0, "j\n", "")
        assert not JobStore(data).get("j").enabled
        assert run(capsys, "cron", "enable", "--dir", data, "j") == (0, "j\n", "")
        assert JobStore(data).get("j").enabled
        assert run(capsys, "cron", "remove", "--dir", data, "j") == (0, "j\n", "")
        assert run(capsys, "cron", "list", "--dir", data, "--json")[1] == "[]\n"

    def test_list_reports_malformed_files_on_stderr(
        self, capsys: pytest.CaptureFixture[str], data: str
    ) -> None:
        """A malformed job file is a warning on stderr; the good jobs are still listed."""
        add(capsys, data, "good")
        (Path(data) / "jobs" / "bad.json").write_text("{")
        code, out, err = run(capsys, "cron", "list", "--dir", data)
        assert code == 0
        assert out.startswith("good: ")
        assert "bad.json" in err
        assert "not valid JSON" in err


class TestErrors:
    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--cron", "bogus"], "--cron: invalid cron expression 'bogus'"),
            (["--cron", "0 0 31 2 *"], "day 31 never occurs in February"),
            (["--name", " "], "--name must not be empty"),
            (["--target", ""], "--target must not be empty"),
            (["--payload", "{x"], "--payload is not valid JSON"),
            (["--id", "../etc"], "invalid job id '../etc'"),
            (["--heartbeat-file", "../secret"], "field 'heartbeat_file'"),
            (["--target", "{bad"], "--target: field 'target' is not a valid PID string"),
            (["--cron", "*/10 * * * * *"], "--cron: ambiguous cron expression"),
            (["--cron", "0 30 9 * * MON-FRI"], "write it as '30 9 * * MON-FRI 0'"),
            (["--cron", "0 25 * * *"], "hour field '25': 25 is out of range 0-23"),
            (["--payload", "[" * 100_000], "--payload is not valid JSON (nested deeper than 64"),
            (["--payload", "[" * 70 + "]" * 70], "--payload is not valid JSON (nested deeper"),
            (["--payload", ""], "--payload is not valid JSON (empty)"),
        ],
    )
    def test_bad_add_input_exits_2_naming_the_field(
        self, capsys: pytest.CaptureFixture[str], data: str, args: list[str], message: str
    ) -> None:
        """Invalid values exit 2 with one stderr line naming the field and value."""
        base = {"--name": "n", "--cron": "* * * * *", "--target": "t", "--prompt": "p"}
        base.update(dict(zip(args[::2], args[1::2], strict=True)))
        argv = [item for pair in base.items() for item in pair]
        code, out, err = run(capsys, "cron", "add", "--dir", data, *argv)
        assert (code, out) == (2, "")
        assert err.startswith("actors cron add: error: ")
        assert message in err
        assert len(err.splitlines()) == 1

    def test_missing_fields_are_usage_errors(
        self, capsys: pytest.CaptureFixture[str], data: str
    ) -> None:
        """add without --target or --prompt exits 2 listing them (and --cron/--every)."""
        code, _, err = run(capsys, "cron", "add", "--dir", data, "--name", "x")
        assert code == 2
        assert "the following arguments are required: --target, --prompt" in err

    def test_duplicate_explicit_id_exits_2(
        self, capsys: pytest.CaptureFixture[str], data: str
    ) -> None:
        """Adding an explicit id that exists exits 2."""
        add(capsys, data, "x", "--id", "same")
        argv = ["--name", "x", "--cron", "* * * * *", "--target", "t", "--prompt", "p"]
        code, _, err = run(capsys, "cron", "add", "--dir", data, *argv, "--id", "same")
        assert code == 2
        assert "a cron job with id 'same' already exists" in err

    @pytest.mark.parametrize("action", ["remove", "enable", "disable"])
    def test_unknown_id_exits_1_and_traversal_exits_2(
        self, capsys: pytest.CaptureFixture[str], data: str, action: str
    ) -> None:
        """An unknown id is 'not found' (1); a path-like id is bad input (2)."""
        add(capsys, data, "x")
        code, _, err = run(capsys, "cron", action, "--dir", data, "nope")
        assert (code, err) == (1, f"actors cron {action}: error: no cron job with id 'nope'\n")
        code, _, err = run(capsys, "cron", action, "--dir", data, "../x")
        assert code == 2
        assert "invalid job id '../x'" in err
        assert JobStore(data).get("x").enabled

    def test_enabling_a_fired_oneshot_exits_2(
        self, capsys: pytest.CaptureFixture[str], data: str
    ) -> None:
        """A oneshot job that already fired cannot be enabled again."""
        import datetime as dt

        add(capsys, data, "o", "--oneshot")
        JobStore(data).fire("o", dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
        code, _, err = run(capsys, "cron", "enable", "--dir", data, "o")
        assert code == 2
        assert "already fired" in err

    @pytest.mark.parametrize("action", ["list", "remove"])
    def test_a_dir_that_is_not_a_data_folder_exits_2(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path, action: str
    ) -> None:
        """Reading commands refuse a folder without jobs/ instead of creating one."""
        extra = ["x"] if action == "remove" else []
        code, _, err = run(capsys, "cron", action, "--dir", str(tmp_path / "typo"), *extra)
        assert code == 2
        assert "is not a cron data folder" in err
        assert not (tmp_path / "typo").exists()


@pytest.mark.slow
class TestSubprocess:
    def test_the_console_script_adds_lists_and_fails_cleanly(self, tmp_path: Path) -> None:
        """The installed `actors` command prints the id, lists JSON and exits 1 on a bad id."""
        exe = Path(sys.executable).with_name("actors")
        command = [str(exe)] if exe.exists() else [sys.executable, "-m", "registry._cli"]
        env = os.environ | {"PYTHONPATH": str(ROOT)}
        data = str(tmp_path / "data")

        def actors(*argv: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*command, *argv], capture_output=True, text=True, env=env, check=False
            )

        added = actors("cron", "add", "--dir", data, "--name", "Ping", "--cron", "* * * * *",
                       "--target", "agent", "--prompt", "ping", "--oneshot", "--init")  # fmt: skip
        assert (added.returncode, added.stdout, added.stderr) == (0, "ping\n", "")
        listed = actors("cron", "list", "--dir", data, "--json")
        assert [j["id"] for j in json.loads(listed.stdout)] == ["ping"]
        missing = actors("cron", "remove", "--dir", data, "pong")
        assert (missing.returncode, missing.stderr.strip()) == (
            1,
            "actors cron remove: error: no cron job with id 'pong'",
        )
