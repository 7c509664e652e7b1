"""Every public name has a docstring: the API reference (docs/reference/) is built from them.

Checked at run time on what each namespace exports: functions and classes, and the public
methods and properties a public class defines itself. Constants are documented by the
attribute docstring under their assignment, which the site shows; they are not checked here.

Beyond presence, the content of what the site shows is checked, one test per defining module
(its id is the private module name, ``actors._core._process``):

- Every public function, every public method, classmethod and staticmethod a public class
  defines itself, and every hand-written ``__init__`` has a Google-style ``Args:`` section
  that names each parameter except ``self``/``cls`` (keyword-only ones too; ``*args`` and
  ``**kwargs`` with their stars), and names no parameter the signature lacks. A method
  without a docstring of its own is held to the one it inherits (as the site shows it).
  The site merges ``__init__`` into its class, so an ``__init__``'s parameters may be named
  in the class docstring's ``Args:`` or in the ``__init__``'s own.
- A class whose ``__init__`` is generated (attrs, dataclasses, msgspec) is documented by its
  fields: every public field needs an attribute docstring (the string under it, which the
  site shows beside the field) or an entry in the class docstring's ``Attributes:``; an
  ``__init__`` parameter that sets a private field (an attrs alias) must be named in the
  class docstring's ``Args:``, since the site hides private fields.
- Whether a function is async is not required in the prose: the site labels every
  coroutine function ``async`` (mkdocstrings-python's ``show_labels``, on by default; see
  ``test_the_site_labels_coroutines_async``), so the label cannot drift from the code.

``Raises:`` and ``Returns:`` sections are written where they say something the summary does
not; their presence is left to review, not checked here.

The ``Args:`` section is read by a small indentation-based parser (``args_section``) rather
than griffe, so the check runs with only the ``test`` extra installed.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import inspect
import pathlib
import re
import textwrap
import types
from collections.abc import Callable
from typing import Any

import attrs
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

import actors
import actors.cluster
import actors.testing
import registry

NAMESPACES = {
    "actors": actors,
    "actors.cron": actors.cron,
    "actors.cluster": actors.cluster,
    "actors.runner": actors.runner,
    "actors.lowlevel": actors.lowlevel,
    "actors.testing": actors.testing,
    "registry": registry,
}


def _own_doc(obj: object) -> str:
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    return (doc or "").strip()


def _exported() -> list[tuple[str, object]]:
    """Every function and class the namespaces export, once each, with its public name."""
    seen: set[int] = set()
    found: list[tuple[str, object]] = []
    for space, module in NAMESPACES.items():
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, types.ModuleType) or not (
                inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj)
            ):
                continue
            if id(obj) not in seen:
                seen.add(id(obj))
                found.append((f"{space}.{name}", obj))
    return found


def _undocumented() -> list[str]:
    missing: list[str] = []
    for where, obj in _exported():
        if not _own_doc(obj):
            missing.append(where)
        if inspect.isclass(obj) and not issubclass(obj, enum.Enum):
            missing.extend(_undocumented_members(where, obj))
    return missing


def _undocumented_members(where: str, cls: type) -> list[str]:
    missing = []
    for attr, value in vars(cls).items():
        if attr.startswith("_"):
            continue
        if isinstance(value, staticmethod | classmethod):
            value = value.__func__
        if isinstance(value, property):
            value = value.fget
        # A method overriding a documented one (a protocol's, logging.Handler.emit) inherits
        # its docstring, as inspect.getdoc and the site do.
        if inspect.isfunction(value) and not (inspect.getdoc(getattr(cls, attr)) or "").strip():
            missing.append(f"{where}.{attr}")
    return missing


def test_every_public_name_has_a_docstring() -> None:
    assert _undocumented() == []


@pytest.mark.parametrize("space", sorted(NAMESPACES))
def test_every_namespace_has_a_docstring(space: str) -> None:
    assert (NAMESPACES[space].__doc__ or "").strip()


# -- the content: Args sections ----------------------------------------------------------------

_ITEM = re.compile(r"(?P<name>\*{0,2}[A-Za-z_]\w*)\s*(?:\([^)]*\))?\s*:(?:\s|$)")


class MalformedArgsError(ValueError):
    """An ``Args:`` section with a line that is neither an item nor its continuation."""


def args_section(doc: str, title: str = "Args") -> list[str] | None:
    """The parameter names an ``Args:`` section documents, in order; None if it has none.

    Google style: a line ``Args:`` alone, then items indented deeper, each ``name: text`` or
    ``name (type): text``; lines indented deeper still continue the item above. The section
    ends at the first non-blank line indented no deeper than ``Args:``. ``title`` reads
    another section of the same shape (``Attributes``).

    Raises:
        MalformedArgsError: an item line does not start with ``name:``, or a second
            ``Args:`` section follows the first.
    """
    lines = inspect.cleandoc(doc).splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == f"{title}:"]
    if not starts:
        return None
    if len(starts) > 1:
        raise MalformedArgsError(f"two {title}: sections")
    start = starts[0]
    base = len(lines[start]) - len(lines[start].lstrip())
    names: list[str] = []
    item_indent: int | None = None
    for line in lines[start + 1 :]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent <= base:
            break
        if item_indent is None:
            item_indent = indent
        if indent < item_indent:
            raise MalformedArgsError(f"item indented less than the first one: {line.strip()!r}")
        if indent > item_indent:
            continue
        match = _ITEM.match(line.strip())
        if match is None:
            raise MalformedArgsError(f"not a 'name: text' item: {line.strip()!r}")
        names.append(match["name"])
    return names


def _parameters(fn: Callable[..., Any], *, bound: bool) -> list[str]:
    """The names a docstring must document: ``*args``/``**kwargs`` starred, ``self`` dropped."""
    params = list(inspect.signature(fn).parameters.values())
    if (
        bound
        and params
        and params[0].kind in {params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD}
    ):
        params = params[1:]
    prefix: dict[inspect._ParameterKind, str] = {
        inspect.Parameter.VAR_POSITIONAL: "*",
        inspect.Parameter.VAR_KEYWORD: "**",
    }
    return [prefix.get(p.kind, "") + p.name for p in params]


def _compare(where: str, wanted: list[str], documented: list[str] | None) -> list[str]:
    documented = documented or []
    problems = [f"{where}: no Args entry for {name!r}" for name in wanted if name not in documented]
    problems += [
        f"{where}: Args names {name!r}, not a parameter"
        for name in documented
        if name not in wanted
    ]
    problems += [
        f"{where}: Args names {name!r} twice"
        for name in set(documented)
        if documented.count(name) > 1
    ]
    return problems


def _check_function(
    where: str, fn: Callable[..., Any], doc: str | None, *, bound: bool
) -> list[str]:
    try:
        documented = args_section(doc or "")
    except MalformedArgsError as exc:
        return [f"{where}: {exc}"]
    return _compare(where, _parameters(fn, bound=bound), documented)


def _generated_init(cls: type) -> bool:
    init = vars(cls).get("__init__")
    if init is None:
        return attrs.has(cls) or dataclasses.is_dataclass(cls) or issubclass(cls, msgspec.Struct)
    # attrs and dataclasses compile __init__ from generated source ("<attrs generated init …>",
    # "<string>"); msgspec's is a C slot. A hand-written one has a real file.
    return not inspect.isfunction(init) or init.__code__.co_filename.startswith("<")


def _written_here(cls: type, init: object) -> bool:
    """Whether ``init`` was written in ``cls``'s body (a ``Protocol``'s is typing's own)."""
    return getattr(init, "__qualname__", "") == f"{cls.__qualname__}.__init__"


def _fields(cls: type) -> dict[str, str | None]:
    """Field name -> the ``__init__`` parameter that sets it (None: not set by ``__init__``)."""
    if attrs.has(cls):
        return {f.name: (f.alias if f.init else None) for f in attrs.fields(cls)}
    if dataclasses.is_dataclass(cls):
        return {f.name: (f.name if f.init else None) for f in dataclasses.fields(cls)}
    if issubclass(cls, msgspec.Struct):
        return {name: name for name in cls.__struct_fields__}
    return {}


def _attribute_docstrings(cls: type) -> set[str]:
    """Names assigned in the class body (of ``cls`` or a base) with a string right under them."""
    documented: set[str] = set()
    for klass in cls.__mro__:
        if klass.__module__ == "builtins":
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = ast.parse(source).body[0]
        assert isinstance(body, ast.ClassDef)
        for stmt, after in zip(body.body, body.body[1:], strict=False):
            if not (isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)):
                continue
            if not isinstance(after.value.value, str):
                continue
            targets = (
                stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
            )
            documented.update(t.id for t in targets if isinstance(t, ast.Name))
    return documented


def _check_class(where: str, cls: type) -> list[str]:
    problems: list[str] = []
    for attr, value in vars(cls).items():
        if attr.startswith("_"):
            continue
        bound = not isinstance(value, staticmethod)
        if isinstance(value, staticmethod | classmethod):
            value = value.__func__
        if inspect.isfunction(value):
            problems += _check_function(
                f"{where}.{attr}", value, inspect.getdoc(getattr(cls, attr)), bound=bound
            )
    if _generated_init(cls):
        has_docstring = _attribute_docstrings(cls)
        try:
            class_args = args_section(_own_doc(cls)) or []
            class_attributes = args_section(_own_doc(cls), "Attributes") or []
        except MalformedArgsError as exc:
            return [*problems, f"{where}: {exc}"]
        for field, param in _fields(cls).items():
            if not field.startswith("_"):
                if not {field} & (has_docstring | {*class_args, *class_attributes}):
                    problems.append(f"{where}: field {field!r} has no attribute docstring")
            elif param is not None and param not in class_args:
                problems.append(
                    f"{where}: no Args entry for {param!r} (sets the private {field!r})"
                )
    elif "__init__" in vars(cls) and _written_here(cls, vars(cls)["__init__"]):
        init = vars(cls)["__init__"]
        try:
            documented = (args_section(_own_doc(cls)) or []) + (
                args_section(init.__doc__ or "") or []
            )
        except MalformedArgsError as exc:
            return [*problems, f"{where}: {exc}"]
        problems += _compare(f"{where}.__init__", _parameters(init, bound=True), documented)
    return problems


def _problems_by_module() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for where, obj in _exported():
        module = getattr(obj, "__module__", "")
        if not module.startswith(("actors", "registry")):
            continue
        problems = found.setdefault(module, [])
        if inspect.isfunction(obj):
            problems += _check_function(where, obj, inspect.getdoc(obj), bound=False)
        elif inspect.isclass(obj) and not issubclass(obj, enum.Enum):
            problems += _check_class(where, obj)
    return found


PROBLEMS = _problems_by_module()


@pytest.mark.parametrize("module", sorted(PROBLEMS))
def test_args_sections_name_every_parameter(module: str) -> None:
    assert PROBLEMS[module] == []


# -- the checker itself ------------------------------------------------------------------------


def test_args_section_reads_items_types_stars_and_continuations() -> None:
    doc = """Do a thing.

    Args:
        first: the first one,
            continued here.
        second (int): typed.
        *args: extra positionals.
        **kwargs: extra keywords.

    Raises:
        ValueError: never named as a parameter.
    """
    assert args_section(doc) == ["first", "second", "*args", "**kwargs"]
    assert args_section("No sections here.") is None


def test_args_section_rejects_a_malformed_item() -> None:
    with pytest.raises(MalformedArgsError, match="not a 'name: text' item"):
        args_section("Summary.\n\nArgs:\n    just prose without a colon\n")


def test_the_checker_finds_a_missing_and_an_unknown_parameter() -> None:
    def fn(a: int, *rest: int, b: int = 0, **extra: int) -> None:
        """Summary.

        Args:
            a: one.
            *rest: more.
            c: not a parameter.
        """

    problems = _check_function("fn", fn, fn.__doc__, bound=False)
    assert problems == [
        "fn: no Args entry for 'b'",
        "fn: no Args entry for '**extra'",
        "fn: Args names 'c', not a parameter",
    ]


def test_the_checker_reads_fields_of_a_generated_init() -> None:
    @attrs.frozen
    class Value:
        """A value."""

        documented: int
        """Has its docstring."""
        bare: int
        _hidden: int = attrs.field(alias="hidden")

    assert _check_class("Value", Value) == [
        "Value: field 'bare' has no attribute docstring",
        "Value: no Args entry for 'hidden' (sets the private '_hidden')",
    ]


_NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)
_PROSE = st.text(st.characters(categories=["L", "N", "Zs"], exclude_characters=":"), max_size=30)


@given(
    items=st.lists(
        st.tuples(
            st.sampled_from(["", "*", "**"]),
            _NAMES,
            st.booleans(),
            _PROSE,
            st.lists(_PROSE, max_size=2),
        ),
        max_size=6,
    ),
    base=st.integers(0, 8),
    step=st.integers(1, 6),
)
def test_args_section_reads_back_what_was_written(
    items: list[tuple[str, str, bool, str, list[str]]], base: int, step: int
) -> None:
    pad = " " * base
    lines = [f"{pad}Summary.", "", f"{pad}Args:"]
    for stars, name, typed, text, more in items:
        lines.append(f"{pad}{' ' * step}{stars}{name}{' (int)' if typed else ''}: {text}")
        lines.extend(f"{pad}{' ' * (2 * step)}{line}" for line in more)
    lines += ["", f"{pad}Returns:", f"{pad}{' ' * step}something: not an argument."]
    assert args_section("\n".join(lines)) == [stars + name for stars, name, *_ in items]


def _coroutine_functions() -> list[tuple[str, str, str]]:
    """(namespace, dotted path inside it, where) of every exported coroutine function/method."""
    found = []
    for where, obj in _exported():
        space, _, name = where.rpartition(".")
        if inspect.iscoroutinefunction(obj):
            found.append((space, name, where))
        elif inspect.isclass(obj):
            for attr, value in vars(obj).items():
                if isinstance(value, staticmethod | classmethod):
                    value = value.__func__
                if not attr.startswith("_") and inspect.iscoroutinefunction(value):
                    found.append((space, f"{name}.{attr}", f"{where}.{attr}"))
    return found


def test_the_site_labels_coroutines_async() -> None:
    """The reference labels every coroutine function ``async``, so the prose need not say so.

    mkdocstrings-python shows griffe's labels (``show_labels``, on unless the config turns it
    off); griffe labels a function ``async`` from its ``async def``. Checked with griffe, the
    site's own reader, when the ``docs`` extra is installed.
    """
    griffe = pytest.importorskip("griffe")
    root = pathlib.Path(__file__).parent.parent
    assert "show_labels: false" not in (root / "mkdocs.yml").read_text()
    loaded = {
        package: griffe.load(package, search_paths=[str(root)])
        for package in ("actors", "registry")
    }
    found = _coroutine_functions()
    assert len(found) > 30
    unlabelled = []
    for space, path, where in found:
        obj = loaded[space.partition(".")[0]]
        for part in [*space.split(".")[1:], *path.split(".")]:
            obj = obj.members[part]
            obj = obj.final_target if obj.is_alias else obj
        if "async" not in obj.labels:
            unlabelled.append(where)
    assert unlabelled == []
