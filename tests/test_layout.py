"""The house rules of the package layout, read from the source with ``ast`` (nothing imported).

1. Doors: each module lives in a room (``ROOMS``) and may import only the rooms its row
   lists. Every import counts: module level, inside functions, methods and classes, under
   ``if TYPE_CHECKING:``, relative ones, and imports in disguise (``importlib.import_module``,
   ``__import__``, ``importlib.util.find_spec``, ``sys.modules`` probes, forkserver preloads,
   lazy ``__getattr__`` tables of module names).
2. Private names: no ``from headwater.x import _name`` (nor ``module._name`` through an
   imported module) from another module; dunders are fine. A private module (a path part
   starting with ``_``) may be imported only from inside the package that holds it.
3. Sizes: no module over ``MAX_MODULE_LINES`` lines, no function or method over
   ``MAX_FUNCTION_LINES`` (from the ``def`` line to the end of its body, decorators excluded).

The only way around a rule is an entry of ``EXCEPTIONS``, with its reason; an entry that no
longer matches anything fails the test too, so the list stays honest.
"""

from __future__ import annotations

import ast
import functools
import re
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 70
MODULE = "<module>"
"""The ``what`` of a module-size exception: ``("headwater.engine.runner", MODULE, reason)``."""

EXCEPTIONS: list[tuple[str, str, str]] = [
    # (where, what, why). ``where`` is the importing (or oversized) module; ``what`` is the
    # module it imports through a closed door, a private name ("headwater.x._name"), MODULE
    # for the module's own size, or a function's qualified name ("Class.method").
    ("headwater.model.states", "headwater.viz.html", "State._repr_html_ draws itself with viz"),
    ("headwater.model.flow", "headwater.viz.graph", "Flow.visualize"),
    ("headwater.model.flow", "headwater.viz.html", "Flow._repr_html_ draws itself with viz"),
    (
        "headwater.model.flow_running",
        "headwater.runtime.run",
        "Flow.run is a short call into the runtime",
    ),
    (
        "headwater.model.flow_running",
        "headwater.runtime.scheduled",
        "Flow.run's return type with run_on_schedule=True (type-only)",
    ),
    (
        "headwater.model.function_flow",
        "headwater.runtime.scheduled",
        "FunctionFlow.run's return type with run_on_schedule=True (type-only)",
    ),
]

PICKLING = ("headwater.pickling",)
"""The pickling helpers."""

ANYTHING = ("headwater",)
ROOMS: dict[str, tuple[str, ...]] = {
    # room: the modules (and packages, with everything below them) it may import
    "model": (
        "headwater.errors",
        "headwater.results.base",
        "headwater.serializers",
        "headwater.schedules",
        "headwater.listeners.base",
        "headwater.taskgraph",
        "headwater.model",
    ),
    "engine": (
        "headwater.model",
        "headwater.results",
        "headwater.serializers",
        "headwater.executors.base",
        "headwater.taskgraph",
        "headwater.errors",
        *PICKLING,
        "headwater.engine",
    ),
    "runtime": ANYTHING,
    "executors": ("headwater.errors", "headwater.taskgraph", *PICKLING, "headwater.executors"),
    "results": ("headwater.serializers", "headwater.errors", "headwater.results"),
    "serializers": ("headwater.errors", "headwater.serializers"),
    "schedules": ("headwater.errors", "headwater.listeners.base", "headwater.schedules"),
    "listeners": ("headwater.errors", "headwater.listeners"),
    "errors": ("headwater.errors",),
    "taskgraph": ("headwater.errors", "headwater.taskgraph"),
    "pickling": ("headwater.errors", *PICKLING),
    "viz": ANYTHING,
    "top": ANYTHING,
}

ROOM_OF = {
    # the second part of a module's name (headwater.<part>...) -> its room
    "model": "model",
    "engine": "engine",
    "runtime": "runtime",
    "executors": "executors",
    "results": "results",
    "serializers": "serializers",
    "schedules": "schedules",
    "listeners": "listeners",
    "errors": "errors",
    "taskgraph": "taskgraph",
    "pickling": "pickling",
    "viz": "viz",
    "cli": "top",
    "cli_bench": "top",
    "cli_runs": "top",
    "signals": "top",
    "operators": "top",
    "states": "top",
    "triggers": "top",
    "journal": "top",
    "_cli_listen": "top",
}

IMPORTERS = {"import_module", "__import__", "find_spec"}
"""Calls whose first argument names a module they import (or look for)."""
MODULE_NAME = re.compile(r"headwater(\.\w+)*")


@dataclass(frozen=True)
class Violation:
    rule: str  # "door", "private" or "size"
    where: str  # module name
    line: int
    what: str  # imported module, private name, MODULE or function name
    message: str


@dataclass(frozen=True)
class Import:
    line: int
    target: str  # the module imported (a submodule when ``from pkg import submodule``)
    name: str | None  # the name taken from ``target`` (None: the module itself)
    how: str  # "" for a plain import, else how it is made ("under TYPE_CHECKING", ...)


def room_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "headwater":
        return None
    return "top" if len(parts) == 1 else ROOM_OF.get(parts[1])


def module_name(path: str) -> str:
    parts = path.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def short(prefix: str) -> str:
    return prefix.removeprefix("headwater.") if prefix != "headwater" else "anything"


# -- collecting imports ----------------------------------------------------------------------


class Module:
    """One parsed source file and everything it imports."""

    def __init__(self, path: str, text: str, known: frozenset[str]) -> None:
        self.path = path
        self.name = module_name(path)
        self.is_package = path.endswith("__init__.py")
        self.text = text
        self.known = known
        self.nodes, self.functions = traverse(ast.parse(text, filename=path))
        self.type_only = type_checking_nodes(self.nodes)
        self.bindings = assignments(self.nodes)

    @functools.cached_property
    def imports(self) -> list[Import]:
        found: list[Import] = []
        for node in self.nodes:
            if isinstance(node, ast.Import | ast.ImportFrom):
                how = "under TYPE_CHECKING" if node in self.type_only else ""
                found.extend(self.statement(node, how))
            elif isinstance(node, ast.Call | ast.Subscript | ast.Compare):
                found.extend(self.disguised(node))
        return found

    def statement(self, node: ast.Import | ast.ImportFrom, how: str) -> Iterator[Import]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(node.lineno, alias.name, None, how)
            return
        base = self.absolute(node)
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            if alias.name == "*":
                yield Import(node.lineno, base, None, how)
            elif sub in self.known:
                yield Import(node.lineno, sub, None, how)
            else:
                yield Import(node.lineno, base, alias.name, how)

    def absolute(self, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        package = self.name.split(".")
        if not self.is_package:
            package = package[:-1]
        package = package[: len(package) - (node.level - 1)]
        return ".".join(package + ([node.module] if node.module else []))

    def disguised(self, node: ast.Call | ast.Subscript | ast.Compare) -> Iterator[Import]:
        if isinstance(node, ast.Call):
            func = dotted(node.func)
            last = func.rsplit(".", 1)[-1]
            if last in IMPORTERS and node.args:
                yield from self.named(node.lineno, node.args[0], f"via {last}()")
            elif func in ("sys.modules.get", "sys.modules.pop") and node.args:
                yield from self.named(node.lineno, node.args[0], "via a sys.modules probe")
            elif last == "set_forkserver_preload" and node.args:
                yield from self.named(node.lineno, node.args[0], "via a forkserver preload")
        elif isinstance(node, ast.Subscript):
            if dotted(node.value) == "sys.modules":
                yield from self.named(node.lineno, node.slice, "via a sys.modules probe")
        elif any(isinstance(op, ast.In | ast.NotIn) for op in node.ops):
            if any(dotted(c) == "sys.modules" for c in node.comparators):
                yield from self.named(node.lineno, node.left, "via a sys.modules probe")

    def named(self, line: int, arg: ast.expr, how: str) -> Iterator[Import]:
        for name in self.strings(arg, depth=6):
            if MODULE_NAME.fullmatch(name):
                yield Import(line, name, None, how)

    def strings(self, node: ast.expr, depth: int) -> Iterator[str]:
        """The module names an expression can hold: literals, containers of them, and names
        bound to those (``_LAZY.get(name)``, ``_HOMES[name]``) a few steps back."""
        if depth == 0:
            return
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value
        elif isinstance(node, ast.JoinedStr) and node.values:
            first = node.values[0]
            if isinstance(first, ast.FormattedValue) and dotted(first.value) == "__name__":
                yield self.name  # f"{__name__}.{x}": below this module, never another room
        elif isinstance(node, ast.List | ast.Tuple | ast.Set):
            for element in node.elts:
                yield from self.strings(element, depth - 1)
        elif isinstance(node, ast.Dict):
            for value in node.values:
                yield from self.strings(value, depth - 1)
        elif isinstance(node, ast.Subscript):
            yield from self.strings(node.value, depth - 1)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "get":
                yield from self.strings(node.func.value, depth - 1)
        elif isinstance(node, ast.Name):
            for value in self.bindings.get(node.id, ()):
                yield from self.strings(value, depth - 1)

    def private_attributes(self) -> Iterator[tuple[int, str, str]]:
        """``alias._name`` where ``alias`` is a headwater module this one imported."""
        aliases: dict[str, str] = {}
        for node in self.nodes:
            if isinstance(node, ast.Import | ast.ImportFrom):
                from_import = isinstance(node, ast.ImportFrom)
                for found, alias in zip(self.statement(node, ""), node.names, strict=False):
                    bound = alias.asname or (alias.name if from_import else None)
                    if found.name is None and bound and found.target != self.name:
                        aliases[bound] = found.target
        for node in self.nodes:
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                target = aliases.get(node.value.id)
                if target and is_private(node.attr):
                    yield node.lineno, target, f"{node.value.id}.{node.attr}"


def dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return ""


def traverse(
    tree: ast.Module,
) -> tuple[list[ast.AST], list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]]:
    """Every node of ``tree`` in source order (one walk serves every rule), and every
    function and method with its qualified name ("Class.method", "outer.inner")."""
    nodes: list[ast.AST] = []
    functions: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []
    stack: list[tuple[ast.AST, str]] = [(tree, "")]
    while stack:
        node, prefix = stack.pop()
        nodes.append(node)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            functions.append((prefix + node.name, node))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            prefix = f"{prefix}{node.name}."
        stack.extend((child, prefix) for child in reversed(list(ast.iter_child_nodes(node))))
    return nodes, functions


def type_checking_nodes(nodes: list[ast.AST]) -> set[ast.AST]:
    inside: set[ast.AST] = set()
    for node in nodes:
        if isinstance(node, ast.If) and dotted(node.test) in (
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        ):
            for statement in node.body:
                inside.update(ast.walk(statement))
    return inside


def assignments(nodes: list[ast.AST]) -> dict[str, list[ast.expr]]:
    bound: dict[str, list[ast.expr]] = {}
    for node in nodes:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign | ast.NamedExpr) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                bound.setdefault(target.id, []).append(value)
    return bound


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


# -- the rules -------------------------------------------------------------------------------


def door_violations(module: Module) -> Iterator[Violation]:
    room = room_of(module.name)
    if room is None:
        yield Violation("door", module.name, 0, MODULE, f"{module.path} is in no room of ROOMS")
        return
    allowed = ROOMS[room]
    for found in module.imports:
        target = found.target
        if room_of(target) is None and target.split(".")[0] == "headwater":
            message = f"{module.path}:{found.line} imports {target}, which is in no room"
        elif room_of(target) is None or any(within(target, door) for door in allowed):
            continue
        else:
            how = f" {found.how}" if found.how else ""
            doors = ", ".join(short(door) for door in allowed)
            message = (
                f"{module.path}:{found.line} imports {target}{how} ({room} may import: {doors})"
            )
        yield Violation("door", module.name, found.line, target, message)


def private_violations(module: Module) -> Iterator[Violation]:
    for found in module.imports:
        if room_of(found.target) is None:
            continue
        if found.name and is_private(found.name) and found.target != module.name:
            what = f"{found.target}.{found.name}"
            message = f"{module.path}:{found.line} imports private name {what}"
            yield Violation("private", module.name, found.line, what, message)
        home = private_home(found.target)
        if home is not None and not within(package_of(module), home):
            message = (
                f"{module.path}:{found.line} imports private module {found.target}"
                f" from outside {home}"
            )
            yield Violation("private", module.name, found.line, found.target, message)
    for line, target, reach in module.private_attributes():
        what = f"{target}.{reach.split('.', 1)[1]}"
        message = f"{module.path}:{line} reaches private name {what} as {reach}"
        yield Violation("private", module.name, line, what, message)


def private_home(target: str) -> str | None:
    """The package holding the first private part of ``target`` (None: nothing private)."""
    parts = target.split(".")
    for index, part in enumerate(parts):
        if is_private(part):
            return ".".join(parts[:index])
    return None


def package_of(module: Module) -> str:
    return module.name if module.is_package else module.name.rpartition(".")[0]


def size_violations(module: Module) -> Iterator[Violation]:
    lines = len(module.text.splitlines())
    if lines > MAX_MODULE_LINES:
        message = f"{module.path}: {lines} lines (at most {MAX_MODULE_LINES})"
        yield Violation("size", module.name, 0, MODULE, message)
    for qualname, node in module.functions:
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        if length > MAX_FUNCTION_LINES:
            message = (
                f"{module.path}:{node.lineno} {qualname}: {length} lines"
                f" (at most {MAX_FUNCTION_LINES})"
            )
            yield Violation("size", module.name, node.lineno, qualname, message)


RULES = {"door": door_violations, "private": private_violations, "size": size_violations}


def check(sources: dict[str, str]) -> list[Violation]:
    """Every violation of every rule in ``sources`` (path under the root -> text)."""
    known = frozenset(module_name(path) for path in sources)
    modules = [Module(path, text, known) for path, text in sorted(sources.items())]
    found: list[Violation] = []
    for rule in RULES.values():
        for module in modules:
            found.extend(dict.fromkeys(rule(module)))  # one report per line and target
    return sorted(found, key=lambda violation: (violation.where, violation.line))


def excuse(
    violations: Iterable[Violation], exceptions: Iterable[tuple[str, str, str]]
) -> tuple[list[Violation], list[str]]:
    """The violations no exception covers, and the exceptions that cover nothing."""
    allowed = {(where, what): why for where, what, why in exceptions}
    used: set[tuple[str, str]] = set()
    left = []
    for violation in violations:
        key = (violation.where, violation.what)
        if key in allowed:
            used.add(key)
        else:
            left.append(violation)
    stale = [
        f"exception {key!r} ({why}) matches nothing: remove it"
        for key, why in allowed.items()
        if key not in used
    ]
    return left, stale


@functools.cache
def tree_report() -> tuple[list[Violation], list[str]]:
    sources = {
        path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted((ROOT / "headwater").rglob("*.py"))
    }
    return excuse(check(sources), EXCEPTIONS)


def report(violations: Iterable[Violation]) -> str:
    return "\n".join(violation.message for violation in violations)


# -- the rules on the tree -------------------------------------------------------------------


@pytest.mark.parametrize("rule", sorted(RULES))
def test_the_tree_keeps_the_rule(rule: str) -> None:
    left, _ = tree_report()
    broken = [violation for violation in left if violation.rule == rule]
    assert not broken, f"{len(broken)} {rule} violation(s):\n{report(broken)}"


def test_every_exception_is_still_needed() -> None:
    _, stale = tree_report()
    assert not stale, "\n".join(stale)


def test_exceptions_name_real_modules_and_give_reasons() -> None:
    for where, what, why in EXCEPTIONS:
        assert room_of(where) is not None, where
        assert what == MODULE or room_of(what) is not None or not what.startswith("headwater")
        assert why.strip(), (where, what)
    assert len({(where, what) for where, what, _ in EXCEPTIONS}) == len(EXCEPTIONS)


# -- the checker can fail ----------------------------------------------------------------------

STUBS = {
    f"headwater/{path}": ""
    for path in (
        "__init__.py",
        "errors.py",
        "pickling.py",
        "taskgraph.py",
        "model/__init__.py",
        "model/flow.py",
        "model/task.py",
        "engine/__init__.py",
        "engine/caching.py",
        "engine/runner.py",
        "executors/__init__.py",
        "executors/base.py",
        "executors/local.py",
        "runtime/__init__.py",
        "runtime/journal.py",
        "results/__init__.py",
        "results/base.py",
        "results/_locations.py",
        "serializers/__init__.py",
        "viz/__init__.py",
        "viz/html.py",
    )
}


def violations_of(path: str, text: str, rule: str | None = None) -> list[Violation]:
    found = check({**STUBS, path: text})
    return [violation for violation in found if rule is None or violation.rule == rule]


def messages(path: str, text: str, rule: str | None = None) -> list[str]:
    return [violation.message for violation in violations_of(path, text, rule)]


MODEL_DOORS = (
    "model may import: errors, results.base, serializers, schedules, listeners.base, taskgraph,"
    " model"
)


def test_a_door_crossed_at_module_level_is_found() -> None:
    text = "import os\n\nfrom headwater.runtime import journal\n"
    assert messages("headwater/model/flow.py", text) == [
        f"headwater/model/flow.py:3 imports headwater.runtime.journal ({MODEL_DOORS})"
    ]


def test_a_door_crossed_inside_a_method_is_found() -> None:
    text = "class Flow:\n    def run(self):\n        import headwater.engine.runner\n"
    assert messages("headwater/model/flow.py", text) == [
        f"headwater/model/flow.py:3 imports headwater.engine.runner ({MODEL_DOORS})"
    ]


def test_a_door_crossed_under_type_checking_is_found() -> None:
    text = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from headwater.engine.runner import TaskRunner\n"
    )
    assert messages("headwater/model/task.py", text) == [
        "headwater/model/task.py:3 imports headwater.engine.runner under TYPE_CHECKING"
        f" ({MODEL_DOORS})"
    ]


def test_from_package_import_submodule_resolves_to_the_submodule() -> None:
    text = "def f():\n    from headwater.engine import caching\n"
    [violation] = violations_of("headwater/executors/local.py", text)
    assert violation.what == "headwater.engine.caching"
    assert "(executors may import: errors, taskgraph, pickling, executors)" in (violation.message)


def test_relative_imports_are_resolved() -> None:
    text = "from ..runtime import journal\nfrom . import task\nfrom .task import Task\n"
    assert [v.what for v in violations_of("headwater/model/flow.py", text)] == [
        "headwater.runtime.journal"
    ]


@pytest.mark.parametrize(
    "text",
    [
        "import importlib\nimportlib.import_module('headwater.runtime.journal')\n",
        "from importlib import import_module\nimport_module('headwater.runtime.journal')\n",
        "__import__('headwater.runtime.journal')\n",
        "import sys\nsys.modules.get('headwater.runtime.journal')\n",
        "import sys\nsys.modules['headwater.runtime.journal']\n",
        "import sys\nif 'headwater.runtime.journal' in sys.modules: pass\n",
        "_LAZY = {'J': 'headwater.runtime.journal'}\n"
        "def __getattr__(name):\n"
        "    import importlib\n"
        "    module = _LAZY.get(name)\n"
        "    return importlib.import_module(module)\n",
        "_HOMES = {'J': 'headwater.runtime.journal'}\n"
        "def __getattr__(name):\n    return importlib.import_module(_HOMES[name])\n",
        "ctx.set_forkserver_preload(['headwater.runtime.journal', __name__])\n",
    ],
)
def test_imports_in_disguise_are_found(text: str) -> None:
    assert [v.what for v in violations_of("headwater/model/flow.py", text)] == [
        "headwater.runtime.journal"
    ]


def test_allowed_doors_and_other_strings_pass() -> None:
    engine = (
        "import logging\nimport sys\nimport headwater.errors\n"
        "from headwater import pickling, taskgraph\n"
        "from headwater.executors.base import Executor\n"
        "from headwater.model.task import Task\nfrom headwater.results import LocalResult\n"
        "logger = logging.getLogger('headwater.runtime')\n"
        "probe = sys.modules.get('distributed.worker')\n"
    )
    assert messages("headwater/engine/runner.py", engine) == []
    executors = "from headwater import pickling, taskgraph\nimport headwater.errors\n"
    assert messages("headwater/executors/local.py", executors) == []


def test_the_executors_package_is_not_the_base_module() -> None:
    text = (
        "from headwater.executors.local import LocalExecutor\nfrom headwater.executors import E\n"
    )
    assert [v.what for v in violations_of("headwater/engine/runner.py", text)] == [
        "headwater.executors.local",
        "headwater.executors",
    ]


def test_a_module_outside_every_room_is_found() -> None:
    assert messages("headwater/flow_runner.py", "") == [
        "headwater/flow_runner.py is in no room of ROOMS"
    ]
    assert messages("headwater/model/flow.py", "from headwater.flow_runner import F\n") == [
        "headwater/model/flow.py:1 imports headwater.flow_runner, which is in no room"
    ]


def test_a_private_name_from_another_module_is_found() -> None:
    text = (
        "from headwater.model.task import _gates, __all__, Task as _Task\n"
        "from headwater.model.flow import _edges\n"
    )
    assert messages("headwater/model/flow.py", text, "private") == [
        "headwater/model/flow.py:1 imports private name headwater.model.task._gates"
    ]


def test_a_private_name_reached_through_a_module_is_found() -> None:
    text = "from headwater.model import task as T\nT._gates()\nT.Task\n"
    assert messages("headwater/model/flow.py", text, "private") == [
        "headwater/model/flow.py:2 reaches private name headwater.model.task._gates as T._gates"
    ]
    text = "from headwater.model import task\ntask._gates()\n"
    assert [v.what for v in violations_of("headwater/model/flow.py", text, "private")] == [
        "headwater.model.task._gates"
    ]


def test_a_private_module_is_private_to_its_package() -> None:
    text = "from headwater.results._locations import render\n"
    assert messages("headwater/results/base.py", text, "private") == []
    assert messages("headwater/results/__init__.py", text, "private") == []
    assert messages("headwater/engine/runner.py", text, "private") == [
        "headwater/engine/runner.py:1 imports private module headwater.results._locations"
        " from outside headwater.results"
    ]
    other = "from headwater.results import _locations\n"
    assert [v.what for v in violations_of("headwater/engine/runner.py", other, "private")] == [
        "headwater.results._locations"
    ]


def function_text(body_lines: int) -> str:
    return "@decorator\n\n@other\ndef f():\n" + "    x = 1\n" * body_lines


def test_a_long_function_is_found_and_decorators_do_not_count() -> None:
    assert messages("headwater/engine/runner.py", function_text(69), "size") == []
    long = "class TaskRunner:\n" + textwrap.indent(function_text(70), "    ")
    assert messages("headwater/engine/runner.py", long, "size") == [
        "headwater/engine/runner.py:5 TaskRunner.f: 71 lines (at most 70)"
    ]


def test_a_long_module_is_found() -> None:
    assert messages("headwater/engine/runner.py", "x = 1\n" * 600, "size") == []
    assert messages("headwater/engine/runner.py", "x = 1\n" * 601, "size") == [
        "headwater/engine/runner.py: 601 lines (at most 600)"
    ]


def test_exceptions_excuse_their_violations_and_stale_ones_are_reported() -> None:
    found = violations_of("headwater/model/flow.py", "from headwater.viz import html\n")
    exceptions = [
        ("headwater.model.flow", "headwater.viz.html", "Flow._repr_html_"),
        ("headwater.model.flow", "headwater.runtime.run", "gone"),
    ]
    left, stale = excuse(found, exceptions)
    assert left == []
    assert stale == [
        "exception ('headwater.model.flow', 'headwater.runtime.run') (gone) matches nothing:"
        " remove it"
    ]
