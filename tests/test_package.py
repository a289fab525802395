"""The package's surface: what `import headwater` loads, the public names, docstrings."""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import headwater

PUBLIC = [
    "Edge",
    "Flow",
    "FlowDefinitionError",
    "FlowRunError",
    "FlowValidationError",
    "HeadwaterError",
    "Parameter",
    "ParameterError",
    "Resume",
    "Secret",
    "SecretValue",
    "Task",
    "__version__",
    "all_conditions",
    "any_condition",
    "apply_map",
    "bench",
    "case",
    "conditional",
    "configure_logging",
    "context",
    "exponential_backoff",
    "filter_results",
    "flatten",
    "flow",
    "get_logger",
    "ifelse",
    "merge",
    "resource_manager",
    "schedules",
    "signals",
    "states",
    "switch",
    "task",
    "triggers",
    "unmapped",
]

PUBLIC_MODULES = [
    "headwater",
    "headwater.signals",
    "headwater.operators",
    "headwater.states",
    "headwater.triggers",
    "headwater.executors",
    "headwater.results",
    "headwater.serializers",
    "headwater.journal",
    "headwater.viz",
    "headwater.schedules",
    "headwater.schedules.filters",
    "headwater.schedules.adjustments",
    "headwater.listeners",
]


def test_public_names_are_pinned() -> None:
    assert sorted(headwater.__all__) == sorted(PUBLIC)
    for name in PUBLIC:
        assert hasattr(headwater, name), name


def test_import_is_light() -> None:
    code = (
        "import sys, headwater; "
        "print(sorted(m for m in ('distributed', 'fsspec', 'click', 'msgpack', 's3fs', 'gcsfs', 'pydantic', 'graphviz', 'http.server', 'headwater.listeners') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _public_objects() -> Iterator[tuple[str, Any]]:
    for modname in PUBLIC_MODULES:
        module = importlib.import_module(modname)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                yield f"{modname}.{name}", obj
                if inspect.isclass(obj):
                    for attr, member in vars(obj).items():
                        if not attr.startswith("_") and inspect.isfunction(member):
                            yield f"{modname}.{name}.{attr}", member


@pytest.mark.parametrize(
    ("name", "obj"), list(_public_objects()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_public_objects_have_docstrings(name: str, obj: Any) -> None:
    assert inspect.getdoc(obj), f"{name} has no docstring"


_ARGS = re.compile(r"^\s*(Args|Arguments|Parameters):\s*$")
_ARG = re.compile(r"^\s{4,}(\*{0,2}\w+)(\s*\([^)]*\))?:")


def documented_arguments(doc: str) -> list[str]:
    """The names in a Google-style ``Args:`` section (without leading stars)."""
    names: list[str] = []
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if not _ARGS.match(line):
            continue
        indent = len(line) - len(line.lstrip())
        for body in lines[i + 1 :]:
            if body.strip() and len(body) - len(body.lstrip()) <= indent:
                break
            m = _ARG.match(body)
            if m and len(body) - len(body.lstrip()) == indent + 4:
                names.append(m.group(1).lstrip("*"))
    return names


@pytest.mark.parametrize(
    ("name", "obj"), list(_public_objects()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_documented_arguments_match_the_signature(name: str, obj: Any) -> None:
    doc = inspect.getdoc(obj) or ""
    documented = documented_arguments(doc)
    if not documented:
        return
    target = obj.__init__ if inspect.isclass(obj) else obj
    params = [p for p in inspect.signature(target).parameters if p not in ("self", "cls")]
    assert sorted(documented) == sorted(params), f"{name}: documents {documented}, takes {params}"


def test_the_docstring_checker_can_fail() -> None:
    def f(a: int, b: int) -> None:
        """Do it.

        Args:
            a: one.
            c: not an argument.
        """

    assert documented_arguments(inspect.getdoc(f) or "") == ["a", "c"]


def _headwater_modules() -> list[str]:
    import pkgutil

    return sorted(m.name for m in pkgutil.walk_packages(headwater.__path__, "headwater."))


@pytest.mark.parametrize("modname", _headwater_modules())
def test_doctests(modname: str) -> None:
    import doctest

    module = importlib.import_module(modname)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {modname}"
