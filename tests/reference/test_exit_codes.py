"""docs/reference/exit-codes.md stays true: each command's table lists every code its modules
can return (read from the code), and no other; a few codes are checked by running the command.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from registry._cli import main

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "reference" / "exit-codes.md"

# Each section of the page (its heading) and the modules whose codes it documents.
SECTIONS = {
    "`actors run DIR`": [
        "registry/_cli.py",
        "registry/_app.py",
        "registry/_exec.py",
        "registry/_workers.py",
        "registry/_cronserve.py",
    ],
    "`actors cron ...`": ["actors/cron/_cli.py"],
    "Commands that talk to a running node": ["actors/_control/_cli.py"],
    "Programs started with `actors.run(main)`": ["actors/_core/_run.py"],
}
USAGE = 2  # argparse's exit code for a usage error, common to every command
PROGRAM_STATUS = "0-255"  # `actors run -x`: the program's own status


def _int(node: ast.AST | None) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    return None


def module_constants(tree: ast.Module) -> dict[str, int]:
    """``NAME = 3`` and ``A, B = 0, 1`` at module level."""
    found: dict[str, int] = {}
    for stmt in tree.body:
        if not isinstance(stmt, ast.Assign):
            continue
        for target in stmt.targets:
            pairs: list[tuple[ast.AST, ast.AST]] = [(target, stmt.value)]
            if isinstance(target, ast.Tuple) and isinstance(stmt.value, ast.Tuple):
                pairs = list(zip(target.elts, stmt.value.elts, strict=False))
            for name, value in pairs:
                if isinstance(name, ast.Name) and (number := _int(value)) is not None:
                    found[name.id] = number
    return found


def codes_in(paths: list[str]) -> set[int]:
    """The exit codes the modules can return: an int literal returned or passed to
    ``SystemExit``/``sys.exit``, and every module constant (of these modules) that a function
    uses (``return EXIT_BAD_APP``, ``code, message = NOT_FOUND, str(exc)``)."""
    trees = {path: ast.parse((ROOT / path).read_text(encoding="utf-8")) for path in paths}
    constants: dict[str, int] = {}
    for tree in trees.values():
        constants.update(module_constants(tree))
    codes: set[int] = set()
    for tree in trees.values():
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.Name) and node.id in constants:
                    codes.add(constants[node.id])
                elif isinstance(node, ast.Return) and (number := _int(node.value)) is not None:
                    codes.add(number)
                elif isinstance(node, ast.Call) and ast.unparse(node.func) in (
                    "SystemExit",
                    "sys.exit",
                ):
                    codes.update(c for c in map(_int, node.args) if c is not None)
    return codes


def documented(section: str) -> set[str]:
    """The first cells of the tables in the page's section ``## {section}``."""
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end != -1 else len(text)]
    return set(re.findall(r"^\| ([0-9][0-9-]*) \|", body, re.M))


@pytest.mark.parametrize("section", list(SECTIONS))
def test_every_code_is_documented(section: str) -> None:
    """Each code the command's modules use is a row of its section."""
    used = {str(code) for code in codes_in(SECTIONS[section])}
    assert used - documented(section) == set(), section


@pytest.mark.parametrize("section", list(SECTIONS))
def test_no_code_is_made_up(section: str) -> None:
    """Each row of a section is a code the modules use (or argparse's, or -x's range)."""
    used = {str(code) for code in codes_in(SECTIONS[section])} | {str(USAGE), PROGRAM_STATUS}
    assert documented(section) - used == set(), section


def test_the_scan_finds_the_known_codes() -> None:
    """The scanner works: the codes everyone knows are found where they are."""
    assert codes_in(SECTIONS["`actors run DIR`"]) >= {0, 1, 2, 130}
    assert codes_in(SECTIONS["`actors cron ...`"]) == {0, 1, 2, 3}
    assert codes_in(SECTIONS["Commands that talk to a running node"]) == {0, 1, 2}
    assert codes_in(SECTIONS["Programs started with `actors.run(main)`"]) == {0, 1, 130}


class TestByRunning:
    """A few rows, checked by running the command in process."""

    def test_a_usage_error_is_2(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as done:
            main(["nonsense"])
        assert done.value.code == USAGE
        assert "usage: actors" in capsys.readouterr().err

    def test_no_node_is_1(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["ps", "--app", str(tmp_path / "nothing")]) == 1
        assert capsys.readouterr().err.startswith("actors ps: ")

    def test_top_bad_interval_is_2(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["top", "--interval", "0"]) == 2
        assert "--interval must be > 0" in capsys.readouterr().err

    def test_cron_codes(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Done 0, not found 1, bad input 2, storage error 3."""
        data = str(tmp_path / "cron")
        add = ["cron", "add", "--target", "app:x", "--prompt", "hi", "--name", "one", "--cron"]
        assert main([*add, "* * * * *", "--dir", data, "--init"]) == 0
        assert main(["cron", "remove", "--dir", data, "no-such-job"]) == 1
        assert main([*add, "61 * * * *", "--dir", data]) == 2
        (tmp_path / "file").write_text("")
        assert main([*add, "* * * * *", "--dir", str(tmp_path / "file" / "sub"), "--init"]) == 3
        err = capsys.readouterr().err
        assert "no cron job with id 'no-such-job'" in err
        assert "Not a directory" in err

    def test_bad_app_is_2(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        (tmp_path / "_index.yaml").write_text('version: "1.0"\nnamespace: app\nentries: [1]\n')
        assert main(["run", str(tmp_path), "--no-control"]) == 2
        assert "cannot load the app" in capsys.readouterr().err
