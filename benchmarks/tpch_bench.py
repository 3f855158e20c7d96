#!/usr/bin/env python3
"""TPC-H on gpu-exec and on DataFusion in one run: per-query medians, their ratio, answer checks.

usage: python benchmarks/tpch_bench.py [DATA_DIR] [--sf 1] [--runs 3] [--queries 1,5,15]
                                       [--partitions N] [--device auto] [--answers DIR]
                                       [--results-dir benchmarks/results]

DATA_DIR (default ./data/tpch-sf{sf}) is generated with tpchgen-cli if it lacks a table. For each
query, the runs alternate between the two engines. A query's time covers planning, execution and
collecting the whole result as Arrow (all statements of q15). gpu-exec's first result is compared
with DataFusion's and, at SF 1, with the official answer files (--answers DIR, default
$GPU_EXEC_TPCH_ANSWERS when set). Prints a markdown table on stdout, progress on stderr, and writes
the numbers as JSON into the results directory.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import pyarrow as pa

    from gpu_exec.api.sql_scripts import ScriptResult

__all__ = ["EngineTimes", "QueryBench", "main"]

HERE = Path(__file__).resolve().parent


@dataclass
class EngineTimes:
    """One engine's runs of one query."""

    times_s: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median_s(self) -> float | None:
        return statistics.median(self.times_s) if self.times_s and self.error is None else None


@dataclass
class QueryBench:
    """Both engines' runs of one query, and whether gpu-exec's answer was right."""

    query: str
    gpu_exec: EngineTimes = field(default_factory=EngineTimes)
    datafusion: EngineTimes = field(default_factory=EngineTimes)
    rows: int | None = None
    operators: str = ""
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        """gpu-exec's median over DataFusion's: below 1 means gpu-exec is faster."""
        g, d = self.gpu_exec.median_s, self.datafusion.median_s
        return g / d if g is not None and d else None

    @property
    def status(self) -> str:
        if self.gpu_exec.error is not None:
            return "FAILED: " + self.gpu_exec.error[:120]
        if self.problems:
            return "WRONG: " + self.problems[0][:120]
        return "ok (" + ", ".join(self.checked) + ")" if self.checked else "not checked"


def _timed(engine: EngineTimes, run: Callable[[], ScriptResult]) -> ScriptResult | None:
    from planner.errors import one_line

    if engine.error is not None:
        return None
    try:
        result = run()
    except Exception as exc:  # a failing query is reported, the others still run
        engine.error = one_line(exc)
        return None
    engine.times_s.append(result.seconds)
    return result


def bench_query(number: int, session: Any, ctx: Any, runs: int, answers: Path | None) -> QueryBench:
    """``runs`` alternating runs of TPC-H query ``number`` on both engines, then the checks."""
    from gpu_exec.api.sql_scripts import run_on_datafusion, run_on_gpu_exec
    from gpu_exec.testing.tpch import check_result, parse_placement, query_sql

    sql = query_sql(number)
    bench = QueryBench(f"q{number:02d}")
    first: ScriptResult | None = None
    expected: pa.Table | None = None
    for i in range(runs):
        result = _timed(bench.gpu_exec, lambda: run_on_gpu_exec(session, sql, explain=(i == 0)))
        first = first or result
        oracle = _timed(bench.datafusion, lambda: run_on_datafusion(ctx, sql))
        expected = expected if expected is not None else (oracle.table if oracle else None)
    if first is not None:
        bench.rows = first.table.num_rows
        bench.operators = str(parse_placement(first.explain or ""))
        bench.problems = check_result(number, first.table, expected=expected, answers_dir=answers)
        bench.checked = (["DataFusion"] if expected is not None else []) + (["answer"] if answers else [])
    return bench


def _seconds(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "-"


def markdown(results: list[QueryBench], header: str) -> str:
    """The results as a markdown table, with a total over the queries both engines ran."""
    lines = [header, "",
             "| query | gpu-exec s | DataFusion s | ratio | rows | gpu-exec operators | check |",
             "|---|---:|---:|---:|---:|---|---|"]
    for r in results:
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        lines.append(f"| {r.query} | {_seconds(r.gpu_exec.median_s)} | "
                     f"{_seconds(r.datafusion.median_s)} | {ratio} | "
                     f"{r.rows if r.rows is not None else '-'} | {r.operators} | {r.status} |")
    both = [r for r in results if r.ratio is not None]
    g_total = sum(r.gpu_exec.median_s or 0.0 for r in both)
    d_total = sum(r.datafusion.median_s or 0.0 for r in both)
    ratio = f"{g_total / d_total:.2f}" if d_total else "-"
    ok = sum(1 for r in results if r.status.startswith("ok"))
    lines.append(f"| total ({len(both)} queries) | {g_total:.3f} | {d_total:.3f} | {ratio} | | | "
                 f"{ok}/{len(results)} ok |")
    lines += ["", "Times are medians in seconds; ratio = gpu-exec / DataFusion (below 1: "
              "gpu-exec is faster); the total sums the queries both engines ran."]
    return "\n".join(lines)


def _versions(*extra: str) -> dict[str, str]:
    """Python's version and those of gpu-exec, DataFusion, pyarrow and the ``extra`` packages."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for package in ("gpu-exec", "datafusion", "pyarrow", *extra):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from gpu_exec.cli.tpch import query_numbers_argument
    from gpu_exec.testing.tpch import QUERY_NUMBERS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, help="TPC-H Parquet directory "
                        "(default ./data/tpch-sf{sf}; generated if it lacks a table)")
    parser.add_argument("--sf", type=float, default=1.0, help="scale factor (default 1)")
    parser.add_argument("--runs", type=int, default=3, help="runs per query and engine (default 3)")
    parser.add_argument("--queries", type=query_numbers_argument, default=list(QUERY_NUMBERS))
    parser.add_argument("--partitions", type=int, help="gpu-exec partitions (default: the engine's)")
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    parser.add_argument("--answers", type=Path, default=None, help="TPC-H SF1 answer directory "
                        "(default: $GPU_EXEC_TPCH_ANSWERS when set; only used at SF 1)")
    parser.add_argument("--results-dir", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def _answers(args: argparse.Namespace) -> Path | None:
    if args.sf != 1:
        return None
    answers = args.answers or (Path(os.environ["GPU_EXEC_TPCH_ANSWERS"]) if os.environ.get("GPU_EXEC_TPCH_ANSWERS") else None)
    return answers if answers is not None and answers.is_dir() else None


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit code 1 when a query fails or gives a wrong answer."""
    import gpu_exec
    from gpu_exec.api.sql_scripts import datafusion_context, register_tables
    from gpu_exec.testing.tpch import default_data_dir, ensure_data

    args = parse_args(argv)
    data = args.data or default_data_dir(args.sf)
    print(f"preparing TPC-H SF {args.sf:g} in {data} ...", file=sys.stderr)
    tables = ensure_data(args.sf, data)
    answers = _answers(args)
    options: dict[str, Any] = {"device": args.device, "fallback": "silent"}
    if args.partitions is not None:
        options["partitions"] = args.partitions

    started = datetime.datetime.now(datetime.timezone.utc)
    session = gpu_exec.connect(**options)
    results = []
    try:
        register_tables(session, tables)
        ctx = datafusion_context(tables)
        for number in args.queries:
            bench = bench_query(number, session, ctx, args.runs, answers)
            print(f"{bench.query}: gpu-exec {_seconds(bench.gpu_exec.median_s)} s, DataFusion "
                  f"{_seconds(bench.datafusion.median_s)} s, {bench.status}", file=sys.stderr)
            results.append(bench)
    finally:
        session.close()

    partitions = args.partitions if args.partitions is not None else "engine default"
    header = (f"TPC-H SF {args.sf:g}, runs per query: {args.runs}, gpu-exec device={args.device} "
              f"partitions={partitions}; {os.cpu_count()} CPUs; {started:%Y-%m-%d %H:%M} UTC; "
              + ", ".join(f"{k} {v}" for k, v in _versions().items()))
    print(markdown(results, header))
    path = _write_json(args, data, answers, started, results)
    print(f"\nJSON: {path}", file=sys.stderr)
    return 1 if any(r.gpu_exec.error or r.problems for r in results) else 0


def _write_json(args: argparse.Namespace, data: Path, answers: Path | None,
                started: datetime.datetime, results: list[QueryBench]) -> Path:
    results_dir: Path = args.results_dir
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"tpch-sf{args.sf:g}-{started:%Y%m%dT%H%M%SZ}.json"
    document = {
        "sf": args.sf, "data": str(data), "runs": args.runs, "device": args.device,
        "partitions": args.partitions, "answers": str(answers) if answers else None,
        "started": started.isoformat(), "cpus": os.cpu_count(), "versions": _versions(),
        "queries": [
            {**asdict(r), "gpu_exec_median_s": r.gpu_exec.median_s,
             "datafusion_median_s": r.datafusion.median_s, "ratio": r.ratio, "status": r.status}
            for r in results
        ],
    }
    path.write_text(json.dumps(document, indent=1) + "\n")
    return path


if __name__ == "__main__":
    sys.exit(main())
