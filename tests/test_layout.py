"""The package layout: imports between subsystem folders run one way; no import circles.

Between folders every ``import`` statement counts, wherever it is: at module level, under
``TYPE_CHECKING`` and inside functions. Inside a folder the imports that run (everything but
``TYPE_CHECKING`` blocks) form no circle; two groups of modules that hold each other's state
name each other's types in annotations (``ANNOTATION_GROUPS``), and no other may. See
docs/architecture.md for the layers.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A folder may import folders of a lower rank only (and its own modules).
RANKS = {
    "actors._core": 0,
    "actors._time": 1,
    "actors._supervision": 2,
    "actors._patterns": 3,  # groups, the bus, pools, user metrics: on the kernel and supervision
    "actors._scheduling": 4,
    "actors._control": 4,  # the control endpoint: reads the kernel, timers and user metrics
    "actors.runner": 5,
    "actors.cron": 5,
    "actors.lowlevel": 5,
    "actors.testing": 5,  # imported by tests only: nothing in actors or registry imports it
    "actors.cluster": 5,
    "actors": 6,  # actors/__init__.py: the public namespace
    "registry": 7,
}
MAX_LINES = 420
# Modules that refer to each other's types (process <-> node <-> lifecycle; a supervisor runs
# a spec whose children may be supervisors). Only annotations close these circles.
ANNOTATION_GROUPS = [
    {
        "actors._core._gc",
        "actors._core._introspect",
        "actors._core._lifecycle",
        "actors._core._listeners",
        "actors._core._loopscan",
        "actors._core._mailbox",
        "actors._core._node",
        "actors._core._process",
        "actors._core._shutdown",
        "actors._core._watchdog",
    },
    {"actors._supervision._spec", "actors._supervision._supervisor"},
    # The node group, its watches and links, the stand-ins it hands the kernel, the frame
    # handlers it calls and the group-wide names and process groups it holds.
    {
        "actors.cluster._global",
        "actors.cluster._group",
        "actors.cluster._links",
        "actors.cluster._remote",
        "actors.cluster._serve",
        "actors.cluster._spanning",
        "actors.cluster._sync",
    },
]


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in ("actors", "registry"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(module: str, node: ast.ImportFrom | ast.Import) -> Iterator[str]:
    """The first-party modules an import statement in ``module`` refers to."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.split(".")[0] in ("actors", "registry"):
                yield alias.name
        return
    is_package = MODULES[module].name == "__init__.py"
    if node.level:
        base = module.split(".")
        drop = node.level - 1 if is_package else node.level
        base = base[: len(base) - drop] if drop else base
        target = ".".join([*base, node.module] if node.module else base)
    else:
        target = node.module or ""
    if target.split(".")[0] not in ("actors", "registry"):
        return
    for alias in node.names:
        candidate = f"{target}.{alias.name}"
        yield candidate if candidate in MODULES else target


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, *, annotations: bool) -> set[str]:
    found: set[str] = set()

    def walk(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node) and not annotations:
            for child in node.orelse:
                walk(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.update(t for t in _resolve(module, node) if t != module)
        for child in ast.iter_child_nodes(node):
            walk(child)

    walk(ast.parse(MODULES[module].read_text()))
    return found


GRAPH = {module: _imports(module, annotations=True) for module in MODULES}
RUNTIME = {module: _imports(module, annotations=False) for module in MODULES}


def _folder(module: str) -> str:
    for folder in sorted(RANKS, key=len, reverse=True):
        if module == folder or module.startswith(folder + "."):
            return folder
    raise AssertionError(f"{module} is in no layer of RANKS")


def test_every_module_is_in_a_layer() -> None:
    for module in MODULES:
        _folder(module)


def test_actors_holds_only_folders_and_the_public_namespaces() -> None:
    flat = sorted(p.name for p in (ROOT / "actors").glob("*.py"))
    assert flat == ["__init__.py", "lowlevel.py"]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module: str) -> None:
    mine = _folder(module)
    for target in GRAPH[module]:
        theirs = _folder(target)
        if theirs == mine:
            continue
        assert RANKS[theirs] < RANKS[mine], f"{module} imports {target} ({theirs} is not below)"


def test_nothing_imports_the_testing_kit() -> None:
    """``actors.testing`` is for tests (and its pytest plugin): the runtime never loads it."""
    for module, targets in GRAPH.items():
        if _folder(module) != "actors.testing":
            assert not any(_folder(t) == "actors.testing" for t in targets), module


def _circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def connect(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in graph[module]:
            if target not in graph:
                continue
            if target not in index:
                connect(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(component)

    for module in sorted(graph):
        if module not in index:
            connect(module)
    return found


def test_no_circle_among_the_imports_that_run() -> None:
    assert _circles(RUNTIME) == []


def test_annotation_circles_are_only_the_known_groups() -> None:
    circles = _circles(GRAPH)
    for circle in circles:
        assert circle in ANNOTATION_GROUPS, f"new import circle: {sorted(circle)}"
        assert len({_folder(m) for m in circle}) == 1


def test_a_circle_is_detected() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [{"a", "b", "c"}]


_SECTIONS = frozenset({"Args:", "Returns:", "Yields:", "Raises:", "Attributes:"})


def _reference_lines(source: str) -> set[int]:
    """Line numbers (0-based) of the docstrings' ``Args:``/``Returns:``/``Raises:``... sections.

    The API reference is built from these sections (tests/test_docstrings.py requires them), so
    they do not count toward a module's size: documenting every argument must not force a
    class to be split. The prose of a docstring still counts.
    """
    lines = source.splitlines()
    found: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        first = node.body[0] if node.body else None
        if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)):
            continue
        if not isinstance(first.value.value, str) or first.end_lineno is None:
            continue
        base: int | None = None
        for number in range(first.lineno - 1, first.end_lineno):
            text = lines[number]
            indent = len(text) - len(text.lstrip())
            if text.strip() in _SECTIONS:
                base = indent
                found.update({number, number - 1} if not lines[number - 1].strip() else {number})
            elif base is not None and text.strip() and indent <= base:
                base = None
            elif base is not None:
                found.add(number)
    return found


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_size(module: str) -> None:
    """At most ``MAX_LINES`` lines, not counting the docstrings' reference sections."""
    source = MODULES[module].read_text()
    lines = len(source.splitlines()) - len(_reference_lines(source))
    assert lines <= MAX_LINES, f"{module} has {lines} lines (without Args/Returns/Raises sections)"


def test_reference_sections_are_not_counted() -> None:
    source = '''def f(a):
    """Summary.

    More prose.

    Args:
        a: one,
            continued.

    Raises:
        ValueError: never.
    """
    return a
'''
    skipped = sorted(_reference_lines(source))
    assert [source.splitlines()[n].strip() for n in skipped] == [
        "",
        "Args:",
        "a: one,",
        "continued.",
        "",
        "Raises:",
        "ValueError: never.",
    ]


@pytest.mark.parametrize(
    "package", sorted(m for m, p in MODULES.items() if p.name == "__init__.py")
)
def test_every_package_says_what_it_holds(package: str) -> None:
    doc = ast.get_docstring(ast.parse(MODULES[package].read_text()))
    assert doc, f"{package} has no docstring"
    if package.startswith("actors.") and package != "actors":
        assert "May import" in doc, f"{package}'s docstring does not say what it may import"
