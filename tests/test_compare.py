"""The comparison helpers the oracle rests on: if they pass what differs, every test is blind."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from gpu_exec.testing.compare import (
    compare_tables,
    compare_with_answer,
    parse_answer_file,
    query_is_ordered,
)
from gpu_exec.api.sql_scripts import is_query, last_query, split_statements, table_format


def test_equal_tables_have_no_differences() -> None:
    t = pa.table({"a": [1, 2, None], "b": ["x", None, "z"]})
    assert compare_tables(t, t, ordered=True) == []


def test_unordered_ignores_row_order_but_ordered_does_not() -> None:
    a = pa.table({"k": [2, 1, None], "v": [0.5, 1.5, 2.5]})
    e = pa.table({"k": [None, 1, 2], "v": [2.5, 1.5, 0.5]})
    assert compare_tables(a, e, ordered=False) == []
    differences = compare_tables(a, e, ordered=True)
    assert differences and differences[0].startswith("row 0:")


def test_floats_compare_with_tolerance_and_nan_equals_nan() -> None:
    a = pa.table({"f": [1.0 + 1e-12, float("nan")]})
    e = pa.table({"f": [1.0, float("nan")]})
    assert compare_tables(a, e, ordered=True) == []
    assert compare_tables(pa.table({"f": [1.001, float("nan")]}), e, ordered=True)


def test_unordered_sort_puts_float_columns_last() -> None:
    # Sorting by the float first would pair (1.0+eps, "b") with (1.0, "a").
    a = pa.table({"f": [1.0 + 1e-12, 1.0], "s": ["b", "a"]})
    e = pa.table({"f": [1.0, 1.0 + 1e-12], "s": ["a", "b"]})
    assert compare_tables(a, e, ordered=False) == []


def test_decimals_compare_exactly_by_value_across_precision_and_scale() -> None:
    a = pa.table({"d": pa.array([Decimal("1.50"), None], pa.decimal128(15, 2))})
    e = pa.table({"d": pa.array([Decimal("1.5000"), None], pa.decimal128(38, 4))})
    assert compare_tables(a, e, ordered=True) == []
    off = pa.table({"d": pa.array([Decimal("1.5001"), None], pa.decimal128(38, 4))})
    assert compare_tables(a, off, ordered=True, rel_tol=0.1, abs_tol=0.1)  # no tolerance


def test_string_view_and_int_widths_are_equal_by_value() -> None:
    a = pa.table({"s": pa.array(["x", "y"], pa.string()), "i": pa.array([1, 2], pa.int32())})
    e = pa.table({"s": pa.array(["x", "y"], pa.string_view()), "i": pa.array([1, 2], pa.int64())})
    assert compare_tables(a, e, ordered=True) == []


def test_a_different_type_kind_is_reported() -> None:
    a = pa.table({"v": pa.array([1.5], pa.float64())})
    e = pa.table({"v": pa.array([Decimal("1.5")], pa.decimal128(10, 1))})
    differences = compare_tables(a, e, ordered=True)
    assert any("type double" in d for d in differences)


def test_row_and_column_counts_and_names_are_reported() -> None:
    e = pa.table({"a": [1, 2, 3]})
    missing = compare_tables(pa.table({"a": [1, 3]}), e, ordered=False)
    assert missing[0] == "row count: actual 2, expected 3"
    assert "missing from actual: (2)" in missing
    assert "column count" in compare_tables(pa.table({"a": [1, 2, 3], "b": [1, 2, 3]}), e, True)[0]
    assert compare_tables(pa.table({"b": [1, 2, 3]}), e, True) == [
        "column names: actual ['b'], expected ['a']"
    ]


def test_many_differences_are_cut_short() -> None:
    differences = compare_tables(pa.table({"a": list(range(20))}),
                                 pa.table({"a": list(range(100, 120))}), ordered=True)
    assert len(differences) == 6 and differences[-1] == "... and 15 more differing rows"


def test_query_is_ordered_looks_only_at_the_outermost_query() -> None:
    assert query_is_ordered("select a from t order by a")
    assert query_is_ordered("select a from t ORDER\n BY a limit 3")
    assert not query_is_ordered("select a from (select a from t order by a limit 3) s")
    assert not query_is_ordered("select a, rank() over (order by a) from t")
    assert not query_is_ordered("select 'order by' from t -- order by a")
    assert not query_is_ordered("with s as (select a from t order by a) select * from s")


def test_split_statements_keeps_semicolons_inside_literals() -> None:
    script = "create view v as select ';' as x; -- a comment; with ';'\nselect * from v;\ndrop view v;"
    assert split_statements(script) == ["create view v as select ';' as x", "select * from v",
                                        "drop view v"]
    assert last_query(script) == "select * from v"
    assert is_query("(select 1)") and is_query("WITH a AS (SELECT 1) SELECT * FROM a")
    assert not is_query("create view v as select 1")


def test_table_format(tmp_path: Path) -> None:
    assert table_format(tmp_path / "x.parquet") == "parquet"  # missing: the engine reports it
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "part-0.csv").write_text("a\n1\n")
    assert table_format(tmp_path / "d") == "csv"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        table_format(tmp_path / "nowhere")


ANSWER = """\
l|name               |sum_qty      |avg_price|day       |count
A|Customer#000000001 |37734107.00|25.52|1994-04-07|      1478493
N| leading space kept out |0.05|38284.47|1995-01-01|           12
"""


@pytest.fixture
def answer_file(tmp_path: Path) -> Path:
    path = tmp_path / "q99.out"
    path.write_text(ANSWER)
    return path


def _result(avg: list[float], count: list[int]) -> pa.Table:
    return pa.table({
        "l": ["A", "N"],
        "name": ["Customer#000000001", " leading space kept out"],
        "sum_qty": pa.array([Decimal("37734107.00"), Decimal("0.0500")], pa.decimal128(38, 4)),
        "avg_price": avg,
        "day": [datetime.date(1994, 4, 7), datetime.date(1995, 1, 1)],
        "count": count,
    })


def test_parse_answer_file(answer_file: Path) -> None:
    rows = parse_answer_file(answer_file)
    assert rows[0] == ("A", "Customer#000000001", "37734107.00", "25.52", "1994-04-07", "1478493")
    assert len(rows) == 2 and rows[1][1] == "leading space kept out"


def test_compare_with_answer_rounds_to_the_answer_decimals(answer_file: Path) -> None:
    assert compare_with_answer(_result([25.5249, 38284.4651], [1478493, 12]), answer_file) == []
    # a rounding-boundary value one cent off is accepted, two cents are not
    assert compare_with_answer(_result([25.5149, 38284.47], [1478493, 12]), answer_file) == []
    assert compare_with_answer(_result([25.50, 38284.47], [1478493, 12]), answer_file)
    # integers are exact
    differences = compare_with_answer(_result([25.52, 38284.47], [1478494, 12]), answer_file)
    assert len(differences) == 1 and "['count']" in differences[0]


def test_compare_with_answer_counts_rows(answer_file: Path) -> None:
    differences = compare_with_answer(_result([25.52, 38284.47], [1478493, 12]).slice(0, 1),
                                      answer_file)
    assert differences == ["row count: actual 1, answer file 2"]


def test_q17_answer_erratum(tmp_path: Path) -> None:
    # The official q17.out says 348406.02; exact arithmetic on the data gives 348406.054...
    path = tmp_path / "q17.out"
    path.write_text("avg_yearly                               \n348406.02\n")
    assert compare_with_answer(pa.table({"avg_yearly": [348406.0542857143]}), path) == []
    assert compare_with_answer(pa.table({"avg_yearly": [348406.10]}), path)
