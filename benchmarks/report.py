"""The benchmark suite's report: the markdown page and the issue's targets.

The JSON written next to the page holds the same figures (``benchmarks/suite.py`` builds
the report dictionary: ``meta``, ``import_time``, ``rows``, ``memory``, ``targets``,
``scale``); this module only renders and judges it.
"""

from __future__ import annotations

from typing import Any


def _f(x: Any, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


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
            f"{r['raw_name']} | {_f(r['raw_s'])} | {_f(r['ratio'], 2)} | "
            f"{_f(r['overhead_us_per_task'], 0)} | {r['repeats']} | {r['load_1min']:.1f} |"
        )
    lines += [
        "",
        "ratio = headwater / raw on the same graph and scheduler; overhead = (headwater - raw)"
        " / tasks (negative where headwater is faster: large maps run batched, several "
        "children per Dask task); load = 1-minute load average when the cell ended.",
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
    lines += ["", "## Targets (issue 6)", "", "| target | measured | met |", "| --- | --- | --- |"]
    for t in report["targets"]:
        met = "-" if t["met"] is None else ("yes" if t["met"] else "**no**")
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
    c = scale.get("comparison")
    if c:
        lines += [
            "",
            f"{c['n']:,} elements: headwater (batched) {c['headwater_s']:.2f} s, raw client.map "
            f"{c['raw_client_map_s']:.2f} s: raw / headwater = {c['raw_over_headwater']:.1f} "
            f"({c['source']}).",
        ]
    if scale.get("error"):
        lines += ["", f"Error: {scale['error']}"]
    return "\n".join(lines) + "\n"


def targets(rows: list[dict[str, Any]], scale: dict[str, Any], sizes: str) -> list[dict[str, Any]]:
    """The issue's targets, checked against this run (only meaningful at full sizes)."""
    by = {(r["workload"], r["executor"]): r for r in rows}
    out: list[dict[str, Any]] = []

    def ratio(workload: str, kind: str, limit: float, text: str) -> None:
        r = by.get((workload, kind))
        ok = None if r is None or sizes != "full" else r["ratio"] <= limit
        out.append({
            "target": text,
            "measured": "not run" if r is None else f"{r['ratio']:.2f}",
            "met": ok,
        })  # fmt: skip

    ratio("map-10000", "dask", 1.3, "map 10,000 + reduce, DaskExecutor / client futures <= 1.3")
    ratio("map-10000", "threads", 1.5, "map 10,000 + reduce, threads / dask.threaded.get <= 1.5")
    r = by.get(("sleep", "dask"))
    out.append({
        "target": "200 x 50 ms sleeps on 2 workers x 8 threads: within 15% of ideal",
        "measured": "not run" if r is None else f"{r['headwater_vs_ideal']:.2f} x ideal "
        f"({r['headwater_s']:.2f} s vs {r['ideal_s']:.3f} s; raw {r['raw_vs_ideal']:.2f} x)",
        "met": None if r is None or sizes != "full" else r["headwater_vs_ideal"] <= 1.15,
    })  # fmt: skip
    big = next(iter(scale.get("results") or []), None)
    out.append({
        "target": "1,000,000-element map + reduce on DaskExecutor (2 workers): < 120 s, "
        "driver peak < 2 GiB",
        "measured": "not run" if big is None else f"{big['n']:,} elements: "
        f"{big['seconds']:.1f} s, driver peak {big['driver_peak_mb']:.0f} MiB",
        "met": None if big is None or big["n"] != 1_000_000
        else bool(big["ok"] and big["seconds"] < 120 and big["driver_peak_mb"] < 2048),
    })  # fmt: skip
    c = scale.get("comparison")
    out.append({
        "target": "100,000 elements: batched headwater >= 10x faster than raw client.map",
        "measured": "not run" if c is None
        else f"{c['n']:,} elements: {c['raw_over_headwater']:.1f}x",
        "met": None if c is None or c["n"] != 100_000 else c["raw_over_headwater"] >= 10,
    })  # fmt: skip
    return out


__all__ = ["markdown", "targets"]
