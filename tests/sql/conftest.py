"""Small tables with NULLs, duplicates and edge values, shared by the per-operator SQL tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

D = Decimal


def _tables() -> dict[str, pa.Table]:
    t = pa.table(
        {
            "id": pa.array([1, 2, 3, 4, 5, 6, 7, 8], pa.int64()),
            "k": pa.array([1, 1, 2, 2, 3, None, None, 4], pa.int32()),
            "s": pa.array(["apple", "Banana", None, "cherry", "apple", "date", "", "éclair"]),
            "x": pa.array([1.5, -2.0, None, 4.25, 0.0, 3.5, -0.5, 10.0], pa.float64()),
            "d": pa.array([D("10.00"), D("-7.05"), D("3.33"), None, D("0.01"), D("99.99"), D("5.50"), D("-0.50")],
                          pa.decimal128(15, 2)),
            "day": pa.array([dt.date(1994, 1, 31), dt.date(1995, 2, 28), dt.date(1996, 2, 29), None,
                             dt.date(1998, 12, 1), dt.date(1992, 1, 1), dt.date(1994, 6, 15), dt.date(2000, 3, 1)]),
            "b": pa.array([True, False, None, True, False, None, True, False]),
        }
    )
    u = pa.table(
        {
            "k": pa.array([1, 2, 2, 5, None, 4], pa.int32()),
            "v": pa.array(["one", "two", "two-b", "five", "null-key", None]),
            "w": pa.array([10, 20, 21, 50, 0, 40], pa.int64()),
        }
    )
    no_nulls = pa.table({"k": pa.array([1, 3, 9], pa.int32())})
    with_null = pa.table({"k": pa.array([1, None], pa.int32())})
    empty = pa.table({"k": pa.array([], pa.int32()), "w": pa.array([], pa.int64())})
    return {"t": t, "u": u, "nn": no_nulls, "wn": with_null, "e": empty}


@pytest.fixture(scope="session")
def small_tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """name → Parquet path of the small tables (t: 8 rows with NULLs; u: join partner; nn, wn:
    NOT IN subquery sides without / with a NULL; e: empty)."""
    root = tmp_path_factory.mktemp("small")
    paths = {}
    for name, table in _tables().items():
        path = root / f"{name}.parquet"
        # Several row groups, so that scans split into several partitions.
        pq.write_table(table, path, row_group_size=3)
        paths[name] = str(path)
    return paths


LAYOUTS = {
    "1-partition": {"partitions": 1},
    "3-partitions": {"partitions": 3},
    "3-partitions-hash-joins": {"partitions": 3, "broadcast_rows": 0},
}


@pytest.fixture(params=list(LAYOUTS), ids=list(LAYOUTS))
def layout(request: pytest.FixtureRequest) -> dict[str, int]:
    """How the session partitions work: one partition; several (small join sides broadcast, as
    every side here is small); several with every join repartitioned on its keys."""
    return LAYOUTS[request.param]
