#!/usr/bin/env python3
"""A star schema on gpu-exec, DataFusion (and DuckDB when installed) in one run: what reading only
what a query needs buys. Per query: median seconds per engine, and the Parquet bytes each read.

usage: python benchmarks/star_bench.py [DATA_DIR] [--rows 4000000] [--row-group 100000]
                                       [--runs 3] [--partitions N] [--device auto]
                                       [--results-dir benchmarks/results]

DATA_DIR (default ./data/star-{rows}) is generated when it lacks a table: ``sales``, the fact
table, sorted by its date key (so each row group holds a few weeks: row-group statistics rule
most of them out under a selective date filter), and three dimensions, ``dates``, ``customer``
and ``product``. The queries filter the dimensions selectively and join them to the fact table;
gpu-exec's join build sides hand their keys to the fact scan (dynamic filters), its scans check
the filters pushed into them against row-group statistics. For each query, the runs alternate
between the engines. A query's time covers planning, execution and collecting the result as
Arrow. "bytes" is what each engine reports it read from the files: gpu-exec's
``bytes_scanned`` (compressed column chunks of the row groups it read, all scans of the query),
DataFusion's ``bytes_scanned`` from EXPLAIN ANALYZE (a separate run). Every answer is compared
with DataFusion's. Prints a markdown table on stdout, progress on stderr, the numbers as JSON in
the results directory.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

QUERIES = {
    # One month of a dimension attribute: the date keys it holds reach the fact scan.
    "month": """
        select sum(s.amount) as revenue, count(*) as n
        from sales s join dates d on s.date_key = d.date_key
        where d.year = 2022 and d.month = 3""",
    # Three dimensions, each filtered; the fact table's date clustering does the pruning.
    "star3": """
        select c.region, p.category, sum(s.amount) as revenue, sum(s.quantity) as units
        from sales s
        join dates d on s.date_key = d.date_key
        join customer c on s.customer_key = c.customer_key
        join product p on s.product_key = p.product_key
        where d.year = 2021 and d.quarter = 4 and c.region = 'EUROPE' and p.category in ('toys', 'books')
        group by c.region, p.category""",
    # A date range written on the fact table itself: static pruning (no join needed).
    "range": """
        select s.product_key % 10 as bucket, sum(s.amount) as revenue
        from sales s
        where s.date_key between 20230101 and 20230115
        group by 1""",
    # Holidays only: a handful of keys scattered over the years (an IN-list dynamic filter).
    "holidays": """
        select d.year, sum(s.amount) as revenue
        from sales s join dates d on s.date_key = d.date_key
        where d.holiday
        group by d.year""",
    # A filter on a dimension the fact table is not sorted by: no row group can be skipped,
    # only rows (the baseline of what dynamic filters cannot do).
    "segment": """
        select count(*) as n, sum(s.amount) as revenue
        from sales s join customer c on s.customer_key = c.customer_key
        where c.segment = 'AUTOMOBILE' and c.region = 'ASIA'""",
}

REGIONS = ["AFRICA", "AMERICA", "ASIA", "EUROPE", "MIDDLE EAST"]
SEGMENTS = ["AUTOMOBILE", "BUILDING", "FURNITURE", "HOUSEHOLD", "MACHINERY"]
CATEGORIES = ["books", "garden", "music", "sports", "tools", "toys", "food", "games"]


def generate(directory: Path, rows: int, row_group: int) -> dict[str, str]:
    """The four tables as Parquet files in ``directory`` (made once, reused when present)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: str(directory / f"{name}.parquet") for name in ("sales", "dates", "customer", "product")}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    rng = np.random.default_rng(42)
    start = datetime.date(2020, 1, 1)
    days = [start + datetime.timedelta(days=i) for i in range(4 * 365)]
    date_keys = np.array([d.year * 10000 + d.month * 100 + d.day for d in days], np.int32)
    pq.write_table(pa.table({
        "date_key": date_keys,
        "day": pa.array(days, pa.date32()),
        "year": pa.array([d.year for d in days], pa.int32()),
        "quarter": pa.array([(d.month - 1) // 3 + 1 for d in days], pa.int32()),
        "month": pa.array([d.month for d in days], pa.int32()),
        "holiday": pa.array([(d.month, d.day) in ((1, 1), (7, 4), (12, 25), (12, 31)) for d in days]),
    }), paths["dates"])
    customers = 50_000
    pq.write_table(pa.table({
        "customer_key": pa.array(np.arange(customers, dtype=np.int32)),
        "region": pa.array([REGIONS[i] for i in rng.integers(0, len(REGIONS), customers)]),
        "segment": pa.array([SEGMENTS[i] for i in rng.integers(0, len(SEGMENTS), customers)]),
    }), paths["customer"])
    products = 5_000
    pq.write_table(pa.table({
        "product_key": pa.array(np.arange(products, dtype=np.int32)),
        "category": pa.array([CATEGORIES[i] for i in rng.integers(0, len(CATEGORIES), products)]),
    }), paths["product"])
    # Sorted by date: about rows / 1460 sales a day.
    day_index = np.sort(rng.integers(0, len(days), rows))
    amount_cents = rng.integers(100, 100_000, rows)
    fact = pa.table({
        "date_key": pa.array(date_keys[day_index]),
        "customer_key": pa.array(rng.integers(0, customers, rows, dtype=np.int32)),
        "product_key": pa.array(rng.integers(0, products, rows, dtype=np.int32)),
        "quantity": pa.array(rng.integers(1, 20, rows, dtype=np.int32)),
        # Cents as decimal(12, 2): an exact multiply by 0.01, then the narrower type (it fits).
        "amount": pc.multiply(pa.array(amount_cents.astype(np.int32)).cast(pa.decimal128(10, 0)),
                              pa.scalar(Decimal("0.01"), pa.decimal128(3, 2))).cast(pa.decimal128(12, 2), safe=False),
    })
    pq.write_table(fact, paths["sales"], row_group_size=row_group)
    return paths


# EXPLAIN ANALYZE writes big counts with a decimal suffix ("246.8 K").
_UNITS = {"": 1, "B": 1, "K": 10 ** 3, "KB": 10 ** 3, "M": 10 ** 6, "MB": 10 ** 6, "G": 10 ** 9, "GB": 10 ** 9}


def datafusion_scans(ctx: Any, sql: str) -> tuple[int | None, str]:
    """DataFusion's bytes_scanned over all its scans, and the row groups its biggest scan kept
    ("matched/total"), from EXPLAIN ANALYZE."""
    try:
        text = "\n".join(str(v) for v in ctx.sql(f"EXPLAIN ANALYZE {sql}").to_arrow_table().column(1).to_pylist())
    except Exception:  # noqa: BLE001 — a measurement, not the benchmark
        return None, "?"
    total = 0
    for value, unit in re.findall(r"bytes_scanned=([\d.]+)\s*([KMG]?B?)", text):
        total += int(float(value) * _UNITS[unit])
    groups = [(int(t), int(m)) for t, m in re.findall(r"row_groups_pruned_statistics=(\d+) total → (\d+) matched", text)]
    kept = f"{max(groups)[1]}/{max(groups)[0]}" if groups else "?"
    return total, kept


def _scan_metrics(session: Any, sql: str) -> dict[str, Any]:
    """gpu-exec's scan metrics of one run of ``sql``, by table."""
    df = session.sql(sql)
    df.to_arrow()
    return {k.split(":", 1)[1]: m for k, m in df.metrics.items() if k.startswith("TableScan:")}


def _median(times: list[float]) -> float | None:
    return statistics.median(times) if times else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", nargs="?")
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--row-group", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--queries", default=",".join(QUERIES))
    parser.add_argument("--results-dir", default=str(HERE / "results"))
    args = parser.parse_args(argv)

    import datafusion

    import gpu_exec
    from gpu_exec.api.sql_scripts import datafusion_context, register_tables
    from gpu_exec.testing.compare import compare_tables

    data = Path(args.data_dir or f"data/star-{args.rows}")
    print(f"data: {data} ({args.rows} fact rows, row groups of {args.row_group})", file=sys.stderr)
    tables = generate(data, args.rows, args.row_group)
    options: dict[str, Any] = {"device": args.device, "progress": "off"}
    if args.partitions:
        options["partitions"] = args.partitions
    session = gpu_exec.connect(**options)
    register_tables(session, tables)
    df_ctx = datafusion_context(tables)
    try:
        import duckdb  # type: ignore[import-not-found]
    except ImportError:
        duckdb = None
    duck = None
    if duckdb is not None:
        duck = duckdb.connect()
        for name, path in tables.items():
            duck.execute(f"create view {name} as select * from read_parquet('{path}')")

    from gpu_exec.engine import pruning

    def unpruned(sql: str) -> Any:
        # The same session with pruning off: every row group read, no dynamic filters.
        pruning.ENABLED = False
        try:
            return session.sql(sql).to_arrow()
        finally:
            pruning.ENABLED = True

    engines: dict[str, Callable[[str], Any]] = {
        "gpu-exec": lambda sql: session.sql(sql).to_arrow(),
        "gpu-exec (no pruning)": unpruned,
        "datafusion": lambda sql: df_ctx.sql(sql).to_arrow_table(),
    }
    if duck is not None:
        engines["duckdb"] = lambda sql: duck.execute(sql).arrow()

    results: dict[str, Any] = {}
    for name in args.queries.split(","):
        sql = QUERIES[name]
        times: dict[str, list[float]] = {e: [] for e in engines}
        answers: dict[str, Any] = {}
        order = list(engines.items())
        for r in range(args.runs):
            # Each run starts with another engine: none always runs right after the same one.
            for engine, run in order[r % len(order):] + order[:r % len(order)]:
                start = time.perf_counter()
                answers[engine] = run(sql)
                times[engine].append(time.perf_counter() - start)
        scans = _scan_metrics(session, sql)
        pruning.ENABLED = False
        try:
            unpruned_bytes = sum(m.bytes_scanned for m in _scan_metrics(session, sql).values())
        finally:
            pruning.ENABLED = True
        fact = scans.get("sales")
        df_bytes, df_groups = datafusion_scans(df_ctx, sql)
        problems = [p for e in engines if e.startswith("gpu-exec")
                    for p in compare_tables(answers[e], answers["datafusion"], False)]
        results[name] = {
            "median_s": {e: _median(t) for e, t in times.items()},
            "times_s": times,
            "gpu_exec_bytes": sum(m.bytes_scanned for m in scans.values()),
            "gpu_exec_fact_row_groups": fact.row_groups if fact else None,
            "gpu_exec_fact_row_groups_read": fact.row_groups - fact.row_groups_pruned if fact else None,
            "gpu_exec_fact_rows": fact.rows if fact else None,
            "gpu_exec_unpruned_bytes": unpruned_bytes,
            "datafusion_bytes": df_bytes,
            "datafusion_fact_row_groups_read": df_groups,
            "rows": answers["gpu-exec"].num_rows,
            "check": "ok" if not problems else "WRONG: " + problems[0][:100],
        }
        print(f"{name}: " + ", ".join(f"{e} {_median(t):.3f}s" for e, t in times.items()), file=sys.stderr)

    engine_names = list(engines)
    header = ["query", *(f"{e} s" for e in engine_names), "gpu-exec / datafusion",
              "fact row groups read: gpu-exec", "datafusion", "MB read: gpu-exec", "unpruned", "datafusion", "check"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, r in results.items():
        med = r["median_s"]
        ratio = med["gpu-exec"] / med["datafusion"] if med["datafusion"] else float("nan")
        df_bytes = r["datafusion_bytes"]
        print("| " + " | ".join([
            name, *(f"{med[e]:.3f}" for e in engine_names), f"{ratio:.2f}",
            f"{r['gpu_exec_fact_row_groups_read']}/{r['gpu_exec_fact_row_groups']}", r["datafusion_fact_row_groups_read"],
            f"{r['gpu_exec_bytes'] / 1e6:.2f}", f"{r['gpu_exec_unpruned_bytes'] / 1e6:.2f}", "?" if df_bytes is None else f"{df_bytes / 1e6:.2f}", r["check"],
        ]) + " |")
    session.close()

    out = Path(args.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out / f"star-{args.rows}-{stamp}.json"
    path.write_text(json.dumps({
        "rows": args.rows, "row_group": args.row_group, "runs": args.runs, "results": results,
        "versions": {"python": platform.python_version(), "datafusion": datafusion.__version__,
                     "duckdb": getattr(duckdb, "__version__", None)},
    }, indent=2, default=str))
    print(f"results: {path}", file=sys.stderr)
    return 0 if all(r["check"] == "ok" for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
