#!/usr/bin/env python3
"""How fast a cancel stops a running TPC-H query, in process or on local executors.

usage: python benchmarks/cancel_latency.py [DATA_DIR] [--sf 1] [--queries 1,3,9,13,18,21]
                                           [--after 1.0] [--workers 0]

Each query runs in a thread; ``--after`` seconds in, ``DataFrame.cancel()`` is called, and the
time until ``to_arrow()`` raises QueryCancelled is reported (a query that finished first says
so), then the time of a small query on the same session: the executors must be ready at once.
Prints a markdown table; the numbers vary with the machine's load, so compare within one run.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _longest_statement(sql: str) -> str:
    """The main query of a script (q15 creates and drops a view around it)."""
    return max((s for s in sql.split(";") if s.strip()), key=len)


def measure(session: Any, number: int, after: float) -> tuple[str, float, float]:
    """(outcome, seconds from cancel() to the error, seconds of the next small query)."""
    from gpu_exec.testing.tpch import query_sql
    from planner.errors import QueryCancelled

    df = session.sql(_longest_statement(query_sql(number)))
    ended: dict[str, Any] = {}

    def run() -> None:
        try:
            df.to_arrow()
            ended["outcome"] = "finished first"
        except QueryCancelled:
            ended["outcome"] = "cancelled"
        ended["at"] = time.monotonic()

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(after)
    cancelled_at = time.monotonic()
    df.cancel()
    thread.join()
    start = time.monotonic()
    session.sql("select count(*) from nation").to_arrow()
    return ended["outcome"], ended["at"] - cancelled_at, time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    import gpu_exec
    from gpu_exec.api.sql_scripts import register_tables
    from gpu_exec.cli.tpch import query_numbers_argument
    from gpu_exec.testing.tpch import default_data_dir, ensure_data

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, help="TPC-H Parquet directory (default ./data/tpch-sf{sf})")
    parser.add_argument("--sf", type=float, default=1.0)
    parser.add_argument("--queries", type=query_numbers_argument, default=[1, 3, 9, 13, 18, 21])
    parser.add_argument("--after", type=float, default=1.0, help="seconds before the cancel (default 1)")
    parser.add_argument("--workers", type=int, default=0, help="local executors (default 0: in process)")
    args = parser.parse_args(argv)
    data = args.data or default_data_dir(args.sf)
    tables = ensure_data(args.sf, data)
    options: dict[str, Any] = {"device": "cpu", "progress": "off"}
    if args.workers:
        options["workers"] = args.workers
    with gpu_exec.connect(**options) as session:
        register_tables(session, tables)
        where = f"{args.workers} local executors" if args.workers else "in process"
        print(f"TPC-H SF {args.sf:g}, cancel {args.after:g} s in, {where}\n")
        print("| query | outcome | cancel → error s | next query s |\n|---|---|---:|---:|")
        for number in args.queries:
            outcome, stop, ready = measure(session, number, args.after)
            print(f"| q{number:02d} | {outcome} | {stop:.2f} | {ready:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
