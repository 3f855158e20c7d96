"""One session, many threads (as the Flight SQL server uses it), and cancelling an in-process query."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import pytest
from datafusion import col, lit

from gpu_exec.testing.tpch import query_sql
from planner.errors import QueryCancelled

# Eight different TPC-H queries (not q15: its CREATE VIEW / DROP VIEW would race with itself).
CONCURRENT_QUERIES = [1, 3, 5, 6, 9, 10, 13, 18]


def test_threads_share_one_session(
        connect_for_tests: Callable[..., Any], tpch_data: dict[str, str], tmp_path: Path,
        assert_matches_datafusion: Callable[..., Any]) -> None:
    session = connect_for_tests(4, tpch_data)
    stop = threading.Event()

    def catalog_churn() -> int:
        # DDL and prepare() while the queries plan and run: the catalog changes under them.
        rounds = 0
        while not stop.is_set():
            name = f"churn_{rounds % 3}"
            session.sql(f"CREATE EXTERNAL TABLE {name} STORED AS PARQUET LOCATION '{tpch_data['nation']}'")
            assert session.prepare(f"select n_name from {name} where n_nationkey = $1").parameter_schema.names == ["1"]
            assert session.sql(f"select count(*) as n from {name}").to_pydict() == {"n": [25]}
            assert name in [row["table_name"] for row in session.sql("show tables").to_pylist()]
            # A DataFrame planned lazily, outside Session.sql: the other order of taking the locks.
            assert session.table(name).filter(col("n_regionkey") == lit(1)).count() == 5
            session.sql(f"DROP TABLE {name}")
            rounds += 1
        return rounds

    try:
        with ThreadPoolExecutor(max_workers=len(CONCURRENT_QUERIES) + 1) as pool:
            churn = pool.submit(catalog_churn)
            try:
                answers = [pool.submit(assert_matches_datafusion, query_sql(n), tpch_data, session=session)
                           for n in CONCURRENT_QUERIES]
                for future in answers:
                    future.result()  # re-raises a wrong answer (pytest's failure) or an error
            finally:
                # Inside the pool's block: leaving it waits for every thread, the churn one too.
                stop.set()
            assert churn.result() > 0
    finally:
        session.close()


def test_cancel_stops_an_in_process_query(connect_for_tests: Callable[..., Any], tpch_data: dict[str, str]) -> None:
    session = connect_for_tests(8, {"supplier": tpch_data["supplier"], "part": tpch_data["part"]})
    # About 200 million rows of cross join in ten pieces: tens of seconds if it ran to the end.
    # The bound below is a hang guard, not a measurement: a cancel that works stops it at the next
    # slice of the join (a fraction of a second); one that does not lets it run on for minutes.
    branch = "select count(*) as n from supplier s, part p where s.s_acctbal > p.p_retailprice + {i}"
    query = "select sum(n) as total from (" + " union all ".join(branch.format(i=i) for i in range(10)) + ") as c"
    df = session.sql(query)
    outcome: list[BaseException | object] = []

    def run() -> None:
        try:
            outcome.append(df.to_arrow())
        except BaseException as exc:  # noqa: BLE001 — handed to the test thread
            outcome.append(exc)

    try:
        thread = threading.Thread(target=run)
        thread.start()
        time.sleep(0.3)
        cancelled_at = time.perf_counter()
        df.cancel()
        thread.join(timeout=120)
        assert not thread.is_alive(), "the query ran on for 2 minutes after it was cancelled"
        print(f"the query stopped {time.perf_counter() - cancelled_at:.2f} s after its cancel")
        assert len(outcome) == 1 and isinstance(outcome[0], QueryCancelled), outcome
        # The session is fine, and the DataFrame runs again (a cancel ends one run only).
        assert session.sql("select count(*) as n from supplier").to_pydict() == {"n": [1000]}
        small = session.sql("select count(*) as n from part where p_partkey <= 10")
        small.cancel()
        with pytest.raises(QueryCancelled):
            small.to_arrow()
        assert small.to_pydict() == {"n": [10]}
    finally:
        session.close()
