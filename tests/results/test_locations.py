"""Location templates: rendering from the run context, clear errors, and the root check
(a property: whatever a parameter holds, a rendered location stays inside the root)."""

from __future__ import annotations

import datetime as dt
import posixpath
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.errors import ResultLocationError
from headwater.results import MemoryResult, Result
from headwater.results._locations import check_inside, default_location, render, template_fields


def test_fields_of_the_run_context_render() -> None:
    context: dict[str, Any] = {
        "flow_name": "etl",
        "task_name": "load",
        "map_index": 7,
        "flow_run_id": "f-1",
        "task_run_id": "t-2",
        "date": dt.datetime(2024, 2, 29, 23, 59, tzinfo=dt.UTC),
        "parameters": {"n": 3, "region": "eu"},
        "task_hash": "9f86d081",
    }
    template = (
        "{flow_name}/{date:%Y-%m-%d}/{parameters[region]}/{task_name}-{map_index}"
        "-{parameters[n]}-{flow_run_id}-{task_run_id}-{task_hash}.pkl"
    )
    assert render(template, context) == "etl/2024-02-29/eu/load-7-3-f-1-t-2-9f86d081.pkl"


def test_an_unmapped_task_renders_map_index_as_none() -> None:
    assert render("{task_name}-{map_index}.pkl", {"task_name": "t", "map_index": None}) == (
        "t-None.pkl"
    )


def test_extra_context_is_ignored_and_braces_can_be_escaped() -> None:
    assert render("{{literal}}/{x}", {"x": 1, "unused": 2}) == "{literal}/1"


def test_a_missing_field_is_named_with_the_fields_available() -> None:
    with pytest.raises(
        ResultLocationError,
        match=r"uses the field 'map_index', which the run context does not have "
        r"\(fields available: flow_name, task_name\)",
    ):
        render("{flow_name}/{task_name}/{map_index}.pkl", {"flow_name": "f", "task_name": "t"})


def test_a_missing_parameter_names_the_parameters_there_are() -> None:
    with pytest.raises(
        ResultLocationError, match=r"parameters \(which has 'a', 'b'\) has no item 'n'"
    ):
        render("{parameters[n]}.pkl", {"parameters": {"a": 1, "b": 2}})


@pytest.mark.parametrize(
    ("template", "match"),
    [
        ("{}.pkl", "positional field"),
        ("{0}.pkl", "positional field"),
        ("{flow_name", "not a valid template"),
        ("{date:%Y}-{date:%Q-nope}", None),
        ("{map_index:d}", "format specs"),
    ],
)
def test_bad_templates_are_refused_clearly(template: str, match: str | None) -> None:
    context = {"date": dt.date(2024, 1, 1), "map_index": "x", "flow_name": "f"}
    if match is None:  # strftime passes unknown directives through: not an error
        render(template, context)
        return
    with pytest.raises(ResultLocationError, match=match):
        render(template, context)


def test_template_fields_lists_roots_once() -> None:
    assert template_fields("{a.b}/{c[0]}/{a}/{{x}}") == ["a", "c"]


@pytest.mark.parametrize(
    ("location", "problem"),
    [
        ("", "it is empty"),
        ("/etc/passwd", "absolute path"),
        ("\\\\server\\share", "absolute path"),
        ("C:\\Windows", "absolute path"),
        ("c:/x", "absolute path"),
        ("..", "'..' segment"),
        ("a/../../b", "'..' segment"),
        ("a\\..\\..\\b", "'..' segment"),
        ("a/b/", "names a folder"),
        (".", "names a folder"),
        ("a/.", "names a folder"),
        ("a\x00b", "NUL byte"),
    ],
)
def test_locations_outside_the_root_are_refused(location: str, problem: str) -> None:
    with pytest.raises(ResultLocationError, match=problem):
        check_inside(location)


@pytest.mark.parametrize("location", ["a", "a/b.pkl", "...", "..a/b..", "./a", ".hidden", "a b/c"])
def test_locations_inside_the_root_pass(location: str) -> None:
    assert check_inside(location) == location


segments = st.sampled_from(["..", ".", "", "a", "b.pkl", "~", "C:", "\\", "/", "..\\"]) | st.text(
    max_size=6
)


@settings(max_examples=500, deadline=None)
@given(st.lists(segments, max_size=6).map("/".join), st.sampled_from(["{p}", "x/{p}", "{p}/y.pkl"]))
def test_a_rendered_location_never_leaves_the_root(parameter: str, template: str) -> None:
    try:
        location = render(template, {"p": parameter})
    except ResultLocationError:
        return
    root = "/srv/results"
    for sep in ("/", "\\"):  # on POSIX and on Windows-like stores
        joined = posixpath.normpath(posixpath.join(root, location.replace(sep, "/")))
        assert joined.startswith(root + "/"), (location, joined)


def test_default_locations_are_fresh_and_safe() -> None:
    a = default_location({"flow_name": "../etl", "task_name": "load data"})
    b = default_location({"flow_name": "../etl", "task_name": "load data"})
    assert a != b and a.startswith("_etl/load_data/") and check_inside(a)
    assert "/" not in default_location({})


def test_format_renders_the_template_of_a_result() -> None:
    result = Result(location="{flow_name}/{parameters[x]}.pkl")
    assert result.format(flow_name="f", parameters={"x": 1}) == "f/1.pkl"
    with pytest.raises(ResultLocationError, match="has no location template"):
        MemoryResult().format(flow_name="f")
    with pytest.raises(ResultLocationError, match="'..' segment"):
        result.format(flow_name="..", parameters={"x": 1})


def test_context_fields_may_have_any_name() -> None:
    """Task inputs arrive as context too; 'value' and 'location' must not clash."""
    result = MemoryResult(location="{value}-{location}")
    assert result.format(value=1, location=2) == "1-2"
    assert result.write("v", value=1, location=2).value == "v"
    assert not result.exists("x", value=1, location=2)
