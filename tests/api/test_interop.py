"""Results to other libraries: polars, and any consumer of the Arrow PyCapsule stream."""

from __future__ import annotations

from typing import Any, Callable

import pyarrow as pa


def test_results_go_to_polars_and_through_the_arrow_c_stream(tpch_data: dict[str, str],
                                                              connect_for_tests: Callable[..., Any]) -> None:
    session = connect_for_tests(tables={"nation": tpch_data["nation"]})
    df = session.sql("select n_regionkey, count(*) as n from nation group by n_regionkey order by n_regionkey")
    frame = df.to_polars()
    assert frame.columns == ["n_regionkey", "n"]
    assert frame["n"].to_list() == [5, 5, 5, 5, 5]
    table = pa.table(df)  # reads df.__arrow_c_stream__
    assert table.column("n_regionkey").to_pylist() == [0, 1, 2, 3, 4]
    assert pa.RecordBatchReader.from_stream(df).read_all().num_rows == 5
