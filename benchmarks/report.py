"""The benchmark suite's report: the markdown page and the issue's targets.

The JSON written next to the page holds the same figures (``benchmarks/suite.py`` builds
the report dictionary: ``meta``, ``import_time``, ``rows``, ``memory``, ``targets``,
``scale``); this module only renders and judges it.
"""

from __future__ import annotations

from typing import Any


def _f(x: Any, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _ratio(row: dict[str, Any]) -> str:
    if row["ratio"] is None:
        return f"raw side failed: {row.get('raw_error')}"
    text = f"{row['ratio']:.2f}x"
    first = row.get("headwater_first_s")
    is_map = str(row.get("workload", "")).startswith("map-") and row.get("executor") == "dask"
    if is_map and first is not None and row.get("raw_s"):
        # the flow's first run plans its map with pilots; later runs from its pace (notice 0018)
        text += f" (the flow's first run: {first / row['raw_s']:.2f}x)"
    return text


def _failed(row: dict[str, Any]) -> str:
    return f" (failed: {row['raw_error']})" if row.get("raw_error") else ""


def markdown(report: dict[str, Any]) -> str:
    """The report as a markdown page."""
    m = report["meta"]
    lines = [
        f"# headwater benchmark suite ({m['sizes']} sizes)",
        "",
        f"{m['date']}; Python {m['python']}, dask {m['dask']}, distributed "
        f"{m['distributed']}; {m['cpus']} CPUs; load average (1/5/15 min) "
        f"{m['load_before']} before, {m['load_after']} after.",
        f"Median of up to {m['repeats']} repeat(s) (a cell stops after {m['budget_s']:g} s); "
        "headwater and raw alternate within each repeat.",
        "Settings: "
        + ", ".join(f"`{k}={v}`" for k, v in m["settings"].items())
        + (" and `progress=False`" if m["progress_argument"] else "")
        + (
            " (the run journal on, no progress bar)."
            if m["settings"].get("HEADWATER_JOURNAL") == "true"
            else " (no run journal, no progress bar)."
        ),
        f"Cluster: {m['cluster']}.",
        "",
        "## Workloads x executors",
        "",
        "| workload | executor | tasks | headwater s | raw | raw s | ratio | overhead µs/task "
        "| repeats | load |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['label']} | {r['executor']} | {r['tasks']:,} | {_f(r['headwater_s'])} | "
            f"{r['raw_name']}{_failed(r)} | {_f(r['raw_s'])} | {_f(r['ratio'], 2)} | "
            f"{_f(r['overhead_us_per_task'], 0)} | {r['repeats']} | {r['load_1min']:.1f} |"
        )
    lines += [
        "",
        "ratio = headwater / raw on the same graph and scheduler (maps: the same map and "
        "reduce as a dask.bag on the Dask schedulers); overhead = (headwater - raw) / tasks "
        "(negative where headwater is faster); load = 1-minute load average when the cell "
        "ended.",
        "",
        "## Concurrency (the sleeping tasks)",
        "",
        "| executor | tasks at once | ideal s | headwater s | headwater / ideal | raw s | "
        "raw / ideal |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in report["rows"]:
        if "ideal_s" in r:
            lines.append(
                f"| {r['executor']} | {r['threads']} | {_f(r['ideal_s'])} | "
                f"{_f(r['headwater_s'])} | {_f(r['headwater_vs_ideal'], 2)} | "
                f"{_f(r['raw_s'])} | {_f(r['raw_vs_ideal'], 2)} |"
            )
    lines += ["", "ideal = tasks x sleep / tasks at once.", "", "## Import time", ""]
    it = report["import_time"]
    lines += [
        f"`import headwater`: {_f(it['importtime_cumulative_s'])} s (`-X importtime` "
        f"cumulative, median of {it['repeats']}); wall {_f(it['wall_s'])} s against "
        f"{_f(it['bare_interpreter_s'])} s for a bare interpreter. Heavy packages it loads: "
        f"{', '.join(it['heavy_modules_loaded']) or 'none'}.",
        "",
        "## Driver peak memory",
        "",
        "Peak resident memory (`VmHWM`) of a fresh driver process running the workload "
        "once, in MiB, after its imports and set-up -> after the run.",
        "",
        "| workload | executor | headwater MiB | raw MiB |",
        "| --- | --- | ---: | ---: |",
    ]

    def mem(x: dict[str, Any]) -> str:
        if "peak_mib" in x:
            return f"{x['before_mib']:.0f} -> {x['peak_mib']:.0f}"
        return str(x.get("skipped") or x.get("error"))

    for e in report["memory"]:
        lines.append(
            f"| {e['workload']} | {e['executor']} | {mem(e['headwater'])} | {mem(e['raw'])} |"
        )
    lines += [
        "",
        "## Targets (issue 14)",
        "",
        "Judged at full sizes only (else `-`).",
        "",
        "| target | measured | met |",
        "| --- | --- | --- |",
    ]
    for t in report["targets"]:
        met = "-" if t["met"] is None else ("met" if t["met"] else "**not met**")
        lines.append(f"| {t['target']} | {t['measured']} | {met} |")
    lines += ["", "## Scale (benchmarks/bench_scale.py)", ""]
    scale = report["scale"]
    if scale.get("status") != "run":
        lines.append(str(scale.get("status")))
    if scale.get("results"):
        lines += [
            "`run_scale` runs in the suite's own process after every cell: its driver memory "
            "is that process's resident memory sampled during the run, and the start figure "
            "includes what the earlier cells left behind.",
            "",
            "| elements | executor | seconds | µs/element | graph nodes | driver MiB (start -> "
            "peak, sampled) | ok |",
            "| ---: | --- | ---: | ---: | ---: | ---: | --- |",
        ]
        for r in scale["results"]:
            lines.append(
                f"| {r['n']:,} | {r['executor']} | {_f(r['seconds'], 2)} | "
                f"{_f(r['us_per_element'], 1)} | {r['graph_nodes']:,} | "
                f"{r['driver_start_mb']:.0f} -> {r['driver_peak_mb']:.0f} | {r['ok']} |"
            )
    if scale.get("error"):
        lines += ["", f"Error: {scale['error']}"]
    return "\n".join(lines) + "\n"


def targets(
    rows: list[dict[str, Any]], memory: list[dict[str, Any]], sizes: str
) -> list[dict[str, Any]]:
    """The targets of issue 14, checked against this run (judged only at full sizes: at
    other sizes ``met`` is None).

    Args:
        rows: the suite's rows (one per workload and executor).
        memory: the driver memory probes.
        sizes: the run's ``--sizes``.
    """
    by = {(r["workload"], r["executor"]): r for r in rows}
    mem = {(m["workload"], m["executor"]): m for m in memory}
    out: list[dict[str, Any]] = []

    def ratio(workload: str, kind: str, limit: float, text: str) -> None:
        r = by.get((workload, kind))
        out.append({
            "target": f"{text} <= {limit:g}x",
            "measured": "not run" if r is None else _ratio(r),
            "met": None if r is None or sizes != "full" or r["ratio"] is None else r["ratio"] <= limit,
        })  # fmt: skip

    for n in (10_000, 100_000, 1_000_000):
        ratio(f"map-{n}", "dask", 1.5, f"map {n:,} + reduce, DaskExecutor / dask.bag")
    ratio("map-1000", "dask", 2.0, "map 1,000 + reduce, DaskExecutor / dask.bag")
    r = by.get(("map-1000000", "dask"))
    probe = (mem.get(("map-1000000", "dask")) or {}).get("headwater") or {}
    peak = probe.get("peak_mib")
    out.append({
        "target": "1,000,000-element map + reduce, DaskExecutor on 2 local workers: < 4 s, "
        "driver peak < 500 MiB",
        "measured": "not run" if r is None else f"{r['headwater_s']:.2f} s, driver peak "
        + (f"{peak:.0f} MiB" if peak is not None else f"not measured ({probe or 'no probe'})"),
        "met": None if r is None or sizes != "full"
        else bool(r["headwater_s"] < 4 and peak is not None and peak < 500),
    })  # fmt: skip
    ratio(
        "layers-10x100", "dask", 1.2, "10 layers x 100, random deps, DaskExecutor / client futures"
    )
    ratio("layers-10x100", "threads", 1.3, "10 layers x 100, threads / dask.threaded.get")
    ratio("chain-200", "threads", 1.3, "chain of 200, threads / dask.threaded.get")
    ratio(
        "layers-10x100", "processes", 1.5, "10 layers x 100, processes / dask.multiprocessing.get"
    )
    ratio("chain-200", "processes", 1.5, "chain of 200, processes / dask.multiprocessing.get")
    ratio(
        "sleep",
        "dask",
        1.1,
        "200 x 50 ms sleeps, 2 workers x 8 threads, DaskExecutor / client futures",
    )
    maps = [r for (w, k), r in by.items() if k == "local" and w.startswith("map-")]
    big = max(maps, key=lambda r: r["tasks"], default=None)
    out.append({
        "target": "per-child engine cost in a batch, LocalExecutor (largest map: (headwater - "
        "plain Python) / children) <= 3 µs",
        "measured": "not run" if big is None
        else f"{big['overhead_us_per_task']:.2f} µs ({big['label']})",
        "met": None if big is None or sizes != "full" else big["overhead_us_per_task"] <= 3,
    })  # fmt: skip
    return out


__all__ = ["markdown", "targets"]
