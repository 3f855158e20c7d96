#!/usr/bin/env python3
"""TPC-H on gpu-exec clusters of 1, 2, 3... local workers vs single-process DataFusion, in one run.

usage: python benchmarks/tpch_workers.py [DATA_DIR] [--sf 1] [--workers 1,2,3] [--runs 2]
                                         [--queries 1,5,15] [--partitions N] [--no-in-process]
                                         [--results-dir benchmarks/results]

Each configuration runs every query ``--runs`` times and keeps the median: DataFusion in this
process, gpu-exec in this process (partitioned on threads, the default session; for reference),
then gpu-exec on an embedded Dask cluster of N worker processes for each N of ``--workers`` (the
same ``--partitions`` everywhere, default 2 × the largest worker count). A cluster runs one
warm-up query before it is timed (worker processes import the engine on first use). Every
gpu-exec result is compared with DataFusion's. Prints a markdown table on stdout, progress on
stderr, and writes the numbers as JSON into the results directory.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from pathlib import Path
from typing import Any

from tpch_bench import HERE, EngineTimes, _seconds, _timed, _versions

__all__ = ["main"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from gpu_exec.cli.tpch import query_numbers_argument
    from gpu_exec.testing.tpch import QUERY_NUMBERS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, help="TPC-H Parquet directory "
                        "(default ./data/tpch-sf{sf}; generated if it lacks a table)")
    parser.add_argument("--sf", type=float, default=1.0, help="scale factor (default 1)")
    parser.add_argument("--workers", default="1,2,3", help="worker counts to run (default 1,2,3)")
    parser.add_argument("--runs", type=int, default=2, help="runs per query and configuration (default 2)")
    parser.add_argument("--queries", type=query_numbers_argument, default=list(QUERY_NUMBERS))
    parser.add_argument("--partitions", type=int, help="gpu-exec partitions (default 2 × the most workers)")
    parser.add_argument("--no-in-process", action="store_true", help="skip the in-process gpu-exec runs")
    parser.add_argument("--results-dir", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    args.workers = [int(w) for w in args.workers.split(",") if w.strip()]
    if args.runs < 1 or not args.workers or min(args.workers) < 1:
        parser.error("--runs and every --workers count must be at least 1")
    return args


def _run_config(name: str, session: Any, queries: list[int], runs: int,
                expected: dict[int, Any]) -> dict[int, EngineTimes]:
    """Every query ``runs`` times on ``session``; a wrong answer is recorded as the error."""
    from gpu_exec.testing.compare import compare_tables, query_is_ordered
    from gpu_exec.api.sql_scripts import last_query, run_on_gpu_exec
    from gpu_exec.testing.tpch import query_sql

    out: dict[int, EngineTimes] = {}
    for number in queries:
        sql = query_sql(number)
        times = out[number] = EngineTimes()
        for i in range(runs):
            result = _timed(times, lambda: run_on_gpu_exec(session, sql))
            if i == 0 and result is not None and expected.get(number) is not None:
                differences = compare_tables(result.table, expected[number], query_is_ordered(last_query(sql)))
                if differences:
                    times.error = "WRONG: " + differences[0]
        print(f"{name} q{number:02d}: {_seconds(times.median_s)} s{'  ' + times.error if times.error else ''}",
              file=sys.stderr)
    return out


def markdown(header: str, columns: list[str], table: dict[str, dict[int, EngineTimes]], queries: list[int]) -> str:
    lines = [header, "", "| query | " + " | ".join(f"{c} s" for c in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for number in queries:
        cells = []
        for c in columns:
            times = table[c][number]
            cells.append(_seconds(times.median_s) if times.error is None else "FAILED" if not
                         times.error.startswith("WRONG") else "WRONG")
        lines.append(f"| q{number:02d} | " + " | ".join(cells) + " |")
    complete = [n for n in queries if all(table[c][n].median_s is not None for c in columns)]
    totals = [sum(table[c][n].median_s or 0.0 for n in complete) for c in columns]
    lines.append(f"| total ({len(complete)} queries) | " + " | ".join(f"{t:.2f}" for t in totals) + " |")
    base = totals[0] or 1.0
    lines.append("| vs DataFusion | " + " | ".join(f"{t / base:.2f}×" for t in totals) + " |")
    lines += ["", "Medians in seconds of planning, execution and collecting the result as Arrow; the "
              "total sums the queries every configuration ran."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import gpu_exec
    from gpu_exec.api.sql_scripts import datafusion_context, register_tables, run_on_datafusion
    from gpu_exec.testing.tpch import default_data_dir, ensure_data, query_sql

    args = parse_args(argv)
    data = args.data or default_data_dir(args.sf)
    print(f"preparing TPC-H SF {args.sf:g} in {data} ...", file=sys.stderr)
    tables = ensure_data(args.sf, data)
    partitions = args.partitions or 2 * max(args.workers)
    started = datetime.datetime.now(datetime.timezone.utc)

    results: dict[str, dict[int, EngineTimes]] = {"DataFusion": {}}
    expected: dict[int, Any] = {}
    ctx = datafusion_context(tables)
    for number in args.queries:
        times = results["DataFusion"][number] = EngineTimes()
        for _ in range(args.runs):
            result = _timed(times, lambda: run_on_datafusion(ctx, query_sql(number)))
            if result is not None:
                expected[number] = result.table
        print(f"DataFusion q{number:02d}: {_seconds(times.median_s)} s", file=sys.stderr)

    configs: list[tuple[str, dict[str, Any]]] = []
    if not args.no_in_process:
        configs.append(("gpu-exec in process", {}))
    configs += [(f"{n} worker{'s' * (n > 1)}", {"workers": n}) for n in args.workers]
    for name, options in configs:
        session = gpu_exec.connect(device="cpu", partitions=partitions, fallback="silent", progress="off", **options)
        try:
            register_tables(session, tables)
            session.sql("select count(*) from nation").to_arrow()  # warm-up: imports in the workers
            results[name] = _run_config(name, session, args.queries, args.runs, expected)
        finally:
            session.close()

    columns = list(results)
    header = (f"TPC-H SF {args.sf:g}, runs per query: {args.runs}, gpu-exec device=cpu partitions={partitions}; "
              f"{os.cpu_count()} CPUs; {started:%Y-%m-%d %H:%M} UTC; "
              + ", ".join(f"{k} {v}" for k, v in _versions("distributed").items()))
    print(markdown(header, columns, results, args.queries))
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"tpch-workers-sf{args.sf:g}-{started:%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps({
        "sf": args.sf, "data": str(data), "runs": args.runs, "partitions": partitions, "workers": args.workers,
        "started": started.isoformat(), "cpus": os.cpu_count(), "versions": _versions("distributed"),
        "configurations": {c: {f"q{n:02d}": {"times_s": t.times_s, "median_s": t.median_s, "error": t.error}
                               for n, t in results[c].items()} for c in columns},
    }, indent=1) + "\n")
    print(f"\nJSON: {path}", file=sys.stderr)
    failed = any(t.error for c in columns for t in results[c].values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
