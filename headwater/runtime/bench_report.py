"""A benchmark's result: its table, its JSON file, and the comparison of two such files.

Design note
-----------
:class:`BenchResult` is what :func:`headwater.bench <headwater.runtime.bench.bench>` returns:
one row per executor (a dict of JSON values, plus the median run's task records for the
timeline) and the machine's facts. ``table()`` is the terminal table; ``write_json()`` writes
the rows and facts (format :data:`FORMAT`, ``"kind": "headwater-bench"``) so that two runs
of a benchmark, on two machines or two versions, can be set side by side with
:func:`compare` (``headwater bench compare A.json B.json``): for each executor found in both,
B's figure over A's. ``write_html()`` and Jupyter's display are drawn by
:mod:`headwater.viz.bench`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.runtime.records import json_default

if TYPE_CHECKING:
    from headwater.viz.timeline import HTMLDocument

KIND = "headwater-bench"
"""The ``kind`` of a benchmark's JSON file."""

FORMAT = 1
"""The version of the JSON format written; :func:`load_report` refuses newer ones."""


# -- numbers for people -----------------------------------------------------------------------
def seconds_text(value: float | None) -> str:
    """A duration for a table: µs, ms or s.

    >>> seconds_text(0.0000412), seconds_text(0.25), seconds_text(3.14159)
    ('41.2 µs', '250 ms', '3.14 s')
    """
    if value is None:
        return "-"
    size = abs(value)
    if size < 1e-3:
        return f"{value * 1e6:.3g} µs"
    if size < 1:
        return f"{value * 1e3:.3g} ms"
    return f"{value:.3g} s" if size < 100 else f"{value:.0f} s"


def mib_text(value: float | None) -> str:
    """A memory figure for a table.

    >>> mib_text(123.456), mib_text(None)
    ('123 MiB', '-')
    """
    return "-" if value is None else f"{value:.0f} MiB"


def worker_peak(row: Mapping[str, Any]) -> float | None:
    """The largest worker peak of a row (MiB), or None."""
    peaks = [v for v in (row.get("worker_peak_mib") or {}).values() if v is not None]
    return max(peaks) if peaks else None


def concurrency_text(row: Mapping[str, Any]) -> str:
    """``0.85 (1.7 of 2)``: concurrency, and the mean task runs in flight of the slots."""
    flight = row.get("mean_in_flight")
    if flight is None:
        return "-"
    if row.get("concurrency") is None:
        return f"{flight:.2f} in flight"
    return f"{row['concurrency']:.2f} ({flight:.1f} of {row['slots']})"


def results_text(row: Mapping[str, Any], first: bool) -> str:
    """What the results column says of a row."""
    if not row.get("results_match", True):
        return "MISMATCH"
    return "reference" if first else "same"


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the first column left-aligned, the others right.

    >>> print(text_table(["a", "b"], [["x", "1"], ["yy", "22"]]))
    a    b
    --  --
    x    1
    yy  22
    """
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        parts = [
            first.ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True)),
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *map(line, rows)])


COLUMNS = (
    "executor", "wall median", "min", "max", "task runs", "tasks/s", "concurrency",
    "overhead/task", "driver peak", "worker peak", "results",
)  # fmt: skip
"""The terminal table's headers."""


def table_rows(rows: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """The cells of the terminal (and HTML) table, one list per executor."""
    out = []
    for i, row in enumerate(rows):
        runs = f"{row['task_runs']}"
        if row.get("mapped_children"):
            runs += f" ({row['mapped_children']} mapped)"
        rate = row.get("tasks_per_s")
        out.append([
            row["executor"],
            seconds_text(row["wall_median_s"]),
            seconds_text(row["wall_min_s"]),
            seconds_text(row["wall_max_s"]),
            runs,
            "-" if rate is None else f"{rate:,.0f}" if rate >= 100 else f"{rate:.3g}",
            concurrency_text(row),
            seconds_text(row.get("overhead_per_task_s")),
            mib_text(row.get("driver_peak_mib")),
            mib_text(worker_peak(row)),
            results_text(row, i == 0),
        ])  # fmt: skip
    return out


def problems(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Loud lines: every mismatch, and every executor whose runs did not all succeed."""
    out = [f"MISMATCH: {m}" for row in rows for m in row.get("mismatches", ())]
    for row in rows:
        bad = [s for s in row.get("states", ()) if s != "Success"]
        if bad:
            kinds = ", ".join(sorted(set(bad)))
            out.append(
                f"NOT SUCCESSFUL: {row['executor']}: {len(bad)} of {len(row['states'])} timed "
                f"runs ended {kinds}: {row.get('not_successful')}"
            )
    return out


# -- the result -------------------------------------------------------------------------------
@dataclass
class BenchResult:
    """What a benchmark measured (see the module's note).

    Args:
        flow_name: the flow's name.
        parameters: the parameter values of every run (secrets masked).
        reference_tasks: the names of the tasks whose results were compared.
        repeats: timed runs per executor.
        warmup: untimed runs per executor before them.
        machine: the machine's facts (:func:`headwater.runtime.machine.machine_facts`), and
            ``load_after``.
        rows: one per executor, in the order run.
    """

    flow_name: str
    parameters: dict[str, Any]
    reference_tasks: list[str]
    repeats: int
    warmup: int
    machine: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every executor gave the first one's results and every timed run
        succeeded."""
        return not problems(self.rows)

    @property
    def mismatches(self) -> list[str]:
        """Every reference task result that differed from the first executor's."""
        return [m for row in self.rows for m in row.get("mismatches", ())]

    def row(self, executor: str) -> dict[str, Any]:
        """The row of ``executor`` (its label).

        Raises:
            KeyError: when no executor has that label.
        """
        for row in self.rows:
            if row["executor"] == executor:
                return row
        raise KeyError(f"No executor {executor!r}; these ran: {[r['executor'] for r in self.rows]}")

    def table(self) -> str:
        """The terminal table, then a loud line per problem."""
        lines = [
            f"Flow {self.flow_name!r}: {self.repeats} timed run(s) per executor after "
            f"{self.warmup} warm-up(s); results of {', '.join(map(repr, self.reference_tasks))} "
            f"compared with {self.rows[0]['executor'] if self.rows else '-'}",
            "",
            text_table(COLUMNS, table_rows(self.rows)),
        ]
        found = problems(self.rows)
        if found:
            lines += ["", *found]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The JSON document :meth:`write_json` writes (the rows without task records)."""
        return {
            "kind": KIND,
            "format": FORMAT,
            "flow": self.flow_name,
            "parameters": self.parameters,
            "reference_tasks": self.reference_tasks,
            "repeats": self.repeats,
            "warmup": self.warmup,
            "ok": self.ok,
            "machine": self.machine,
            "rows": [{k: v for k, v in row.items() if k != "records"} for row in self.rows],
        }

    def write_json(self, path: str | Path) -> Path:
        """Write :meth:`to_json` to ``path``; return the path."""
        out = Path(path)
        text = json.dumps(self.to_json(), indent=2, default=json_default)
        out.write_text(text + "\n", encoding="utf-8")
        return out

    def html(self, page_dir: str | Path | None = None) -> HTMLDocument:
        """The benchmark as one self-contained HTML page (see :mod:`headwater.viz.bench`).

        Args:
            page_dir: the folder the page will be saved in, so links to Dask's reports are
                relative to it (the current folder when None).
        """
        from headwater.viz.bench import bench_page

        return bench_page(self, page_dir)

    def write_html(self, path: str | Path) -> Path:
        """Write :meth:`html` to ``path``; return the path."""
        out = Path(path)
        out.write_text(str(self.html(out.resolve().parent)), encoding="utf-8")
        return out

    def _repr_html_(self) -> str:
        from headwater.viz.bench import bench_fragment

        return bench_fragment(self)

    def __str__(self) -> str:
        return self.table()


# -- two results side by side -------------------------------------------------------------------
def load_report(path: str | Path) -> dict[str, Any]:
    """Read a benchmark's JSON file.

    Raises:
        ValueError: when it cannot be read, is not JSON, is not a benchmark's file, or is of a
            newer format.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"Cannot read {str(path)!r}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{str(path)!r} is not JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ValueError(
            f"{str(path)!r} is not a benchmark's file: write one with headwater bench ... --json FILE"
        )
    if not isinstance(data.get("format"), int) or data["format"] > FORMAT:
        raise ValueError(
            f"{str(path)!r} is of format {data.get('format')!r}; this headwater reads format "
            f"{FORMAT} and older: upgrade headwater to compare it"
        )
    return data


def ratio_text(a: float | None, b: float | None) -> str:
    """B over A, or ``-`` when either is unknown or A is zero.

    >>> ratio_text(2.0, 3.0), ratio_text(0.0, 1.0)
    ('1.50x', '-')
    """
    if a is None or b is None or a == 0:
        return "-"
    return f"{b / a:.2f}x"


COMPARED: tuple[tuple[str, Callable[[Mapping[str, Any]], float | None], Callable[[float | None], str]], ...] = (
    ("wall median", lambda r: r.get("wall_median_s"), seconds_text),
    ("tasks/s", lambda r: r.get("tasks_per_s"), lambda v: "-" if v is None else f"{v:.3g}"),
    ("overhead/task", lambda r: r.get("overhead_per_task_s"), seconds_text),
    ("concurrency", lambda r: r.get("concurrency"), lambda v: "-" if v is None else f"{v:.2f}"),
    ("driver peak", lambda r: r.get("driver_peak_mib"), mib_text),
    ("worker peak", worker_peak, mib_text),
)  # fmt: skip
"""The figures compared: name, how to read it from a row, how to write it."""


def _facts(data: Mapping[str, Any]) -> dict[str, str]:
    facts = data.get("machine") or {}
    versions = facts.get("versions") or {}
    out = {
        "flow": str(data.get("flow")),
        "parameters": json.dumps(data.get("parameters"), sort_keys=True),
        "repeats": str(data.get("repeats")),
        "date": str(facts.get("date")),
        "host": str(facts.get("host")),
        "cpus": str(facts.get("cpus")),
        "load before": str(facts.get("load")),
        "load after": str(facts.get("load_after")),
        "python": str(facts.get("python")),
    }
    out.update({name: str(v) for name, v in versions.items()})
    return out


def compare(a: Mapping[str, Any], b: Mapping[str, Any], names: Sequence[str] = ("A", "B")) -> str:
    """Two benchmarks side by side: their facts, then for every executor in both each figure
    of A, of B, and B over A (below 1.00x: B took less).

    Args:
        a: a benchmark's JSON document (:func:`load_report`).
        b: another.
        names: what to call them in the output (their file names).
    """
    first, second = names
    fa, fb = _facts(a), _facts(b)
    facts = [[k, fa.get(k, "-"), fb.get(k, "-")] for k in dict.fromkeys([*fa, *fb])]
    lines = [text_table(["", first, second], facts), ""]
    if fa["flow"] != fb["flow"] or fa["parameters"] != fb["parameters"]:
        lines += ["WARNING: the two files measured different flows or parameters", ""]
    rows_a = {r["executor"]: r for r in a.get("rows", [])}
    rows_b = {r["executor"]: r for r in b.get("rows", [])}
    both = [e for e in rows_a if e in rows_b]
    cells = []
    for executor in both:
        ra, rb = rows_a[executor], rows_b[executor]
        for label, read, show in COMPARED:
            va, vb = read(ra), read(rb)
            cells.append([executor, label, show(va), show(vb), ratio_text(va, vb)])
    if cells:
        lines.append(text_table(["executor", "figure", first, second, f"{second}/{first}"], cells))
    else:
        lines.append("No executor ran in both files.")
    for executor in [e for e in rows_a if e not in rows_b]:
        lines.append(f"only in {first}: {executor}")
    for executor in [e for e in rows_b if e not in rows_a]:
        lines.append(f"only in {second}: {executor}")
    return "\n".join(lines)


__all__ = [
    "COLUMNS",
    "FORMAT",
    "KIND",
    "BenchResult",
    "compare",
    "concurrency_text",
    "load_report",
    "mib_text",
    "problems",
    "ratio_text",
    "results_text",
    "seconds_text",
    "table_rows",
    "text_table",
    "worker_peak",
]
