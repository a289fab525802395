"""The schedules package's surface: names, lazy loading, docstrings."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.test_package import documented_arguments

PUBLIC = {
    "headwater.schedules": [
        "Clock",
        "CronClock",
        "DatesClock",
        "IntervalClock",
        "Schedule",
        "ScheduleError",
        "ScheduleEvent",
        "adjustments",
        "filters",
        "run_on_schedule",
    ],
    "headwater.schedules.filters": [
        "Filter",
        "at_time",
        "between_dates",
        "between_datetimes",
        "between_times",
        "is_month_end",
        "is_month_start",
        "is_weekday",
        "is_weekend",
        "on_date",
        "on_datetime",
    ],
    "headwater.schedules.adjustments": ["Adjustment", "add", "next_weekday", "previous_weekday"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names_are_pinned(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == PUBLIC[module]
    for name in mod.__all__:
        assert getattr(mod, name) is not None


def test_from_headwater_import_schedules() -> None:
    from headwater import schedules
    from headwater.errors import ScheduleError

    assert schedules.ScheduleError is ScheduleError
    assert issubclass(ScheduleError, ValueError)
    assert "Schedule" in dir(schedules)


def test_unknown_names_are_attribute_errors() -> None:
    from headwater import schedules

    with pytest.raises(
        AttributeError, match=r"module 'headwater.schedules' has no attribute 'Cron'"
    ):
        schedules.Cron  # noqa: B018


def _loaded_after(code: str) -> list[str]:
    probe = (
        f"import sys; {code}; "
        "print(sorted(m for m in ('pydantic', 'croniter', 'dask', 'distributed') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return ast.literal_eval(out.stdout)


def test_importing_the_package_loads_nothing_heavy() -> None:
    assert _loaded_after("import headwater.schedules") == []


def test_using_schedules_loads_pydantic_and_croniter_but_not_dask() -> None:
    code = (
        "from datetime import timedelta; from headwater.schedules import Schedule, IntervalClock, filters; "
        "Schedule([IntervalClock(timedelta(hours=1))], filters=[filters.is_weekday]).next(1)"
    )
    assert _loaded_after(code) == ["croniter", "pydantic"]


def _public_objects() -> Iterator[tuple[str, Any]]:
    for modname in PUBLIC:
        module = importlib.import_module(modname)
        for name in module.__all__:
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
def test_public_objects_are_documented(name: str, obj: Any) -> None:
    doc = inspect.getdoc(obj)
    assert doc, f"{name} has no docstring"
    documented = documented_arguments(doc)
    if documented:
        target = obj.__init__ if inspect.isclass(obj) else obj
        params = [p for p in inspect.signature(target).parameters if p not in ("self", "cls")]
        assert sorted(documented) == sorted(params), (
            f"{name}: documents {documented}, takes {params}"
        )


@pytest.mark.parametrize(
    "modname",
    [
        "headwater.schedules",
        "headwater.schedules._common",
        "headwater.schedules.adjustments",
        "headwater.schedules.clocks",
        "headwater.schedules.filters",
        "headwater.schedules.runner",
        "headwater.schedules.schedule",
    ],
)
def test_doctests(modname: str) -> None:
    import doctest

    result = doctest.testmod(importlib.import_module(modname), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0, modname
