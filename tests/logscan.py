"""Read the log lines the runtime can write from its source (an AST scan of actors/ and registry/).

A log line is a call on a module logger (``log = actors.get_logger("actors.app")`` or
``logger = logging.getLogger("actors")``): ``log.info("App started", services=2)`` (an event and
its fields) or ``logger.warning("service gave up name=%s", name)`` (a %-format). The scan
resolves what tests need to keep docs/reference/log-lines.md true: the logger, the level(s), the
line's key (its constant text up to the first field) and its field names.
"""

from __future__ import annotations

import ast
import functools
import logging
import re
from pathlib import Path

import attrs

ROOT = Path(__file__).resolve().parents[1]
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
}
_FIRST_FIELD = re.compile(r"%|<|\b\w+=")


def key_of(text: str) -> str:
    """The constant start of a line: up to its first placeholder or ``name=`` field."""
    found = _FIRST_FIELD.search(text)
    return (text if found is None else text[: found.start()]).strip()


def fields_of(text: str) -> frozenset[str]:
    """The ``name=`` fields a line (a format or a documented line) shows."""
    return frozenset(re.findall(r"\b(\w+)=", text))


@attrs.frozen
class LogCall:
    """One call that writes a log line."""

    where: str  # path:line
    logger: str
    levels: frozenset[int]
    text: str  # the event, or the %-format
    fields: frozenset[str]  # field names
    open_fields: bool  # ``**fields``: more fields than the names say

    @property
    def key(self) -> str:
        return key_of(self.text)


class ScanError(Exception):
    """A log call whose logger, level or text the scan cannot read."""


def _loggers(tree: ast.Module) -> dict[str, str]:
    found = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call):
            func = ast.unparse(stmt.value.func)
            args = stmt.value.args
            named = func.split(".")[-1] in ("get_logger", "getLogger") and args
            if named and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        found[target.id] = args[0].value
    return found


def _strings(tree: ast.Module) -> dict[str, str]:
    return {
        target.id: stmt.value.value
        for stmt in tree.body
        if isinstance(stmt, ast.Assign)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
        for target in stmt.targets
        if isinstance(target, ast.Name)
    }


def _branches(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.IfExp):
        return [*_branches(node.body), *_branches(node.orelse)]
    return [node]


def _texts(node: ast.expr | None, strings: dict[str, str]) -> list[str] | None:
    if node is None:
        return None
    out = []
    for branch in _branches(node):
        if isinstance(branch, ast.Constant) and isinstance(branch.value, str):
            out.append(branch.value)
        elif isinstance(branch, ast.Name) and branch.id in strings:
            out.append(strings[branch.id])
        else:
            return None
    return out


def _assigned(func: ast.AST) -> dict[str, ast.expr]:
    return {
        target.id: stmt.value
        for stmt in ast.walk(func)
        if isinstance(stmt, ast.Assign)
        for target in stmt.targets
        if isinstance(target, ast.Name)
    }


def _level_values(node: ast.expr, local: dict[str, ast.expr]) -> frozenset[int] | None:
    if isinstance(node, ast.Name) and node.id in local:
        node = local[node.id]
    levels = set()
    for branch in _branches(node):
        name = ast.unparse(branch)
        if not name.startswith("logging.") or not isinstance(getattr(logging, name[8:], None), int):
            return None
        levels.add(getattr(logging, name[8:]))
    return frozenset(levels)


def _method_levels(node: ast.expr, loggers: dict[str, str]) -> tuple[str, frozenset[int]] | None:
    """``log.info`` or ``log.warning if x else log.info``: the logger and the levels."""
    names, levels = set(), set()
    for branch in _branches(node):
        if not (isinstance(branch, ast.Attribute) and isinstance(branch.value, ast.Name)):
            return None
        if branch.value.id not in loggers or branch.attr not in LEVELS:
            return None
        names.add(loggers[branch.value.id])
        levels.add(LEVELS[branch.attr])
    if len(names) != 1:
        return None
    return names.pop(), frozenset(levels)


def _enclosing(tree: ast.Module) -> dict[int, ast.AST]:
    """For each node, the innermost function around it (or the module)."""
    scope_of: dict[int, ast.AST] = {}

    def visit(node: ast.AST, scope: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            scope_of[id(child)] = scope
            inner = child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else scope
            visit(child, inner)

    visit(tree, tree)
    return scope_of


def scan_file(path: Path) -> list[LogCall]:
    """Every log call of one module."""
    text = path.read_text(encoding="utf-8")
    if "getLogger(" not in text and "get_logger(" not in text:
        return []
    tree = ast.parse(text)
    loggers, strings = _loggers(tree), _strings(tree)
    if not loggers:
        return []
    scope_of = _enclosing(tree)
    where_of = f"{path.relative_to(ROOT)}"
    calls: list[LogCall] = []
    assigned: dict[int, dict[str, ast.expr]] = {id(tree): {}}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        scope = scope_of[id(node)]
        local = assigned.get(id(scope))
        if local is None:
            local = assigned[id(scope)] = _assigned(scope)
        func, args = node.func, list(node.args)
        found = None
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id in loggers
            and func.attr == "log"
        ):
            levels = _level_values(args[0], local) if args else None
            if levels is None:
                raise ScanError(f"{where_of}:{node.lineno}: cannot read the level")
            found, args = (loggers[func.value.id], levels), args[1:]
        elif isinstance(func, ast.Name) and func.id in local:
            found = _method_levels(local[func.id], loggers)
        else:
            found = _method_levels(func, loggers)
        if found is None:
            continue
        logger, levels = found
        texts = _texts(args[0] if args else None, strings)
        if texts is None:
            if max(levels) < logging.INFO:
                continue  # a DEBUG line may be built at run time
            raise ScanError(f"{where_of}:{node.lineno}: the line is not a constant text")
        keywords = {k.arg for k in node.keywords if k.arg is not None and k.arg != "exc_info"}
        opened = any(k.arg is None for k in node.keywords)
        for text in texts:
            fields = frozenset(keywords) | fields_of(text)
            where = f"{where_of}:{node.lineno}"
            calls.append(LogCall(where, logger, levels, text, fields, opened))
    return calls


@functools.cache
def scan() -> tuple[LogCall, ...]:
    """Every log call of actors/ and registry/ (read once per test session)."""
    paths = sorted([*(ROOT / "actors").rglob("*.py"), *(ROOT / "registry").rglob("*.py")])
    return tuple(call for path in paths for call in scan_file(path))
