#!/usr/bin/env python3
"""TPC-H time and peak memory, each engine in its own process: DataFusion, gpu-exec with its
default settings, and gpu-exec under a memory limit.

usage: python benchmarks/tpch_memory.py [DATA_DIR] [--sf 1] [--queries 1,5,15]
                                        [--memory-limit 2GB] [--skip-default] [--partitions N] [--device auto]
                                        [--results-dir benchmarks/results]

Peak RSS is only comparable between processes that do nothing else: each engine runs the queries
once, in order, in a fresh Python process (``--child``), which reports its own peak resident set
(``getrusage``), each query's seconds and, for gpu-exec, the bytes its operators spilled. The
results travel as Arrow IPC files; every gpu-exec answer is compared with DataFusion's. Prints a
markdown table on stdout, progress on stderr, and writes the numbers as JSON into the results
directory; exit code 1 when a gpu-exec query fails or gives a wrong answer.
"""

from __future__ import annotations

import argparse
import datetime
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

__all__ = ["main"]


def _child(args: argparse.Namespace) -> int:
    """Run the queries on one engine in this process; write results and numbers under --out."""
    import pyarrow as pa

    from gpu_exec.api.sql_scripts import datafusion_context, register_tables, run_on_datafusion, run_on_gpu_exec
    from gpu_exec.testing.tpch import query_sql, table_paths
    from planner.errors import one_line

    out = Path(args.out)
    tables = table_paths(args.data)
    session: Any = None
    if args.child == "datafusion":
        ctx = datafusion_context(tables)

        def run(sql: str) -> Any:
            return run_on_datafusion(ctx, sql)
    else:
        import gpu_exec

        options: dict[str, Any] = {"device": args.device, "fallback": "silent"}
        if args.partitions is not None:
            options["partitions"] = args.partitions
        if args.child == "gpu-exec-limited":
            options["memory_limit"] = args.memory_limit
        session = gpu_exec.connect(**options)
        register_tables(session, tables)

        def run(sql: str) -> Any:
            return run_on_gpu_exec(session, sql)

    numbers: dict[str, Any] = {"queries": {}}
    for number in args.queries:
        name = f"q{number:02d}"
        print(f"  {args.child} {name}", file=sys.stderr, flush=True)
        try:
            result = run(query_sql(number))
        except Exception as exc:  # a failing query is reported, the others still run
            numbers["queries"][name] = {"error": one_line(exc)}
            continue
        with pa.OSFile(str(out / f"{name}.arrow"), "wb") as sink, pa.ipc.new_file(sink, result.table.schema) as w:
            w.write_table(result.table)
        numbers["queries"][name] = {"seconds": result.seconds, "rows": result.table.num_rows}
    if session is not None:
        numbers["spilled_bytes"] = session.memory_pool.stats().spilled
        numbers["memory_limit"] = session.memory_pool.limit
        session.close()
    numbers["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    (out / "numbers.json").write_text(json.dumps(numbers))
    return 0


def _run_engine(engine: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, __file__, str(args.data), "--child", engine, "--out", str(out),
               "--queries", ",".join(str(n) for n in args.queries), "--device", args.device,
               "--memory-limit", args.memory_limit]
    if args.partitions is not None:
        command += ["--partitions", str(args.partitions)]
    print(f"running {engine} in its own process ...", file=sys.stderr, flush=True)
    completed = subprocess.run(command, check=False)
    numbers_file = out / "numbers.json"
    if completed.returncode != 0 or not numbers_file.exists():
        return {"error": f"the {engine} process exited with {completed.returncode}", "queries": {}}
    numbers: dict[str, Any] = json.loads(numbers_file.read_text())
    return numbers


def _check(name: str, number: int, gpu_dir: Path, df_dir: Path) -> list[str]:
    import pyarrow as pa

    from gpu_exec.testing.tpch import check_result

    actual_path, expected_path = gpu_dir / f"{name}.arrow", df_dir / f"{name}.arrow"
    if not actual_path.exists() or not expected_path.exists():
        return []
    actual = pa.ipc.open_file(pa.memory_map(str(actual_path))).read_all()
    expected = pa.ipc.open_file(pa.memory_map(str(expected_path))).read_all()
    return check_result(number, actual, expected=expected)


def _gib(n: int | None) -> str:
    return f"{n / 2**30:.2f}" if n is not None else "-"


def markdown(engines: dict[str, dict[str, Any]], checks: dict[str, dict[str, list[str]]],
             queries: list[int], header: str) -> str:
    names = list(engines)
    lines = [header, "", "| engine | total s | peak RSS GiB | spilled GiB | queries ok |", "|---|---:|---:|---:|---|"]
    for engine in names:
        numbers = engines[engine]
        per_query = numbers.get("queries", {})
        seconds = sum(q.get("seconds", 0.0) for q in per_query.values())
        failed = [n for n, q in per_query.items() if "error" in q]
        wrong = [n for n, problems in checks.get(engine, {}).items() if problems]
        ok = len(queries) - len(failed) - len(wrong) if "error" not in numbers else 0
        label = engine if engine != "gpu-exec-limited" else f"gpu-exec, memory_limit={numbers.get('limit_text', '')}"
        lines.append(f"| {label} | {seconds:.1f} | {_gib(numbers.get('peak_rss_bytes'))} | "
                     f"{_gib(numbers.get('spilled_bytes')) if 'spilled_bytes' in numbers else '-'} | "
                     f"{ok}/{len(queries)}{' (failed: ' + ', '.join(failed) + ')' if failed else ''}"
                     f"{' (wrong: ' + ', '.join(wrong) + ')' if wrong else ''} |")
    lines += ["", "| query | " + " | ".join(f"{e} s" for e in names) + " |", "|---|" + "---:|" * len(names)]
    for number in queries:
        name = f"q{number:02d}"
        cells = []
        for engine in names:
            q = engines[engine].get("queries", {}).get(name, {})
            cells.append("FAILED" if "error" in q else f"{q['seconds']:.2f}" if "seconds" in q else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from gpu_exec.cli.tpch import query_numbers_argument
    from gpu_exec.testing.tpch import QUERY_NUMBERS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, help="TPC-H Parquet directory "
                        "(default ./data/tpch-sf{sf}; generated if it lacks a table)")
    parser.add_argument("--sf", type=float, default=1.0, help="scale factor (default 1)")
    parser.add_argument("--queries", type=query_numbers_argument, default=list(QUERY_NUMBERS))
    parser.add_argument("--memory-limit", default="2GB", help="gpu-exec's limit for the limited run "
                        "(default 2GB; 'none' skips that run)")
    parser.add_argument("--partitions", type=int, help="gpu-exec partitions (default: the engine's)")
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    parser.add_argument("--results-dir", type=Path, default=HERE / "results")
    parser.add_argument("--child", choices=("datafusion", "gpu-exec", "gpu-exec-limited"), help=argparse.SUPPRESS)
    parser.add_argument("--skip-default", action="store_true",
                        help="run DataFusion and only the memory-limited gpu-exec (not gpu-exec's defaults)")
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return _child(args)
    from gpu_exec.testing.tpch import default_data_dir, ensure_data

    args.data = args.data or default_data_dir(args.sf)
    print(f"preparing TPC-H SF {args.sf:g} in {args.data} ...", file=sys.stderr)
    ensure_data(args.sf, args.data)
    started = datetime.datetime.now(datetime.timezone.utc)
    runs = ["datafusion", "gpu-exec"] + ([] if args.memory_limit.lower() == "none" else ["gpu-exec-limited"])
    if args.skip_default:  # DataFusion stays: it is the answers' reference
        runs.remove("gpu-exec")
    with tempfile.TemporaryDirectory(prefix="tpch-memory-") as tmp:
        engines = {engine: _run_engine(engine, args, Path(tmp) / engine) for engine in runs}
        if "gpu-exec-limited" in engines:
            engines["gpu-exec-limited"]["limit_text"] = args.memory_limit
        checks = {engine: {f"q{n:02d}": _check(f"q{n:02d}", n, Path(tmp) / engine, Path(tmp) / "datafusion")
                           for n in args.queries}
                  for engine in runs if engine != "datafusion"}
    header = (f"TPC-H SF {args.sf:g}, each engine in its own process, {started:%Y-%m-%d %H:%M} UTC "
              f"(device {args.device}; queries run once, in order)")
    print(markdown(engines, checks, args.queries, header))
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"tpch-memory-sf{args.sf:g}-{started:%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps({"engines": engines, "checks": checks}, indent=1))
    print(f"numbers: {path}", file=sys.stderr)
    bad = any(problems for per in checks.values() for problems in per.values()) or any(
        "error" in q for e in runs if e != "datafusion" for q in engines[e].get("queries", {}).values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
