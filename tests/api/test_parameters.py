"""Query parameters: ``Session.sql(query, params)`` ($1, $name and ?) and ``Session.prepare``."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

import pyarrow as pa
import pytest

from planner.errors import SQLError, UnsupportedSQLError
from planner.sql_text import number_question_marks, placeholder_names


@pytest.fixture(scope="module")
def session(connect_for_tests: Callable[..., Any], tpch_data: dict[str, str]) -> Iterator[Any]:
    s = connect_for_tests(4, {name: tpch_data[name] for name in ("orders", "customer", "nation")})
    yield s
    s.close()


def _expected(session: Any, sql: str) -> pa.Table:
    return session.sql(sql).to_arrow()


def test_positional_parameters(session: Any) -> None:
    query = "select o_orderkey, o_totalprice from orders where o_custkey = $1 and o_orderdate >= $2 order by o_orderkey"
    bound = session.sql(query, [370, datetime.date(1995, 1, 1)]).to_arrow()
    literal = _expected(session, "select o_orderkey, o_totalprice from orders where o_custkey = 370 "
                                 "and o_orderdate >= date '1995-01-01' order by o_orderkey")
    assert bound.num_rows > 0 and bound.equals(literal)


def test_named_parameters_and_question_marks(session: Any) -> None:
    named = session.sql("select n_name from nation where n_regionkey = $region and n_name like $pattern order by n_name",
                        {"region": 1, "$pattern": "%A%"}).to_pydict()
    marks = session.sql("select n_name from nation where n_regionkey = ? and n_name like ? order by n_name",
                        (1, "%A%")).to_pydict()
    assert named == marks == {"n_name": ["ARGENTINA", "BRAZIL", "CANADA", "UNITED STATES"]}


def test_parameters_in_limit_and_select_list(session: Any) -> None:
    result = session.sql("select n_nationkey * $1 as k, $2 as tag from nation order by n_nationkey limit $3",
                         [10, "x", 2]).to_pylist()
    assert result == [{"k": 0, "tag": "x"}, {"k": 10, "tag": "x"}]


@pytest.mark.parametrize(("sql", "params", "message"), [
    ("select * from nation where n_nationkey = $1", None, r"no value for \$1"),
    ("select * from nation where n_nationkey = $1 and n_regionkey = $2", [1], r"no value for \$2"),
    ("select * from nation where n_nationkey = $1", [1, 2], r"\$2 is not in the statement"),
    ("select * from nation", {"x": 1}, r"\$x is not in the statement"),
    ("select * from nation where n_name = $name", {"nam": "X"}, r"no value for \$name and \$nam is not"),
    ("select * from nation where n_nationkey = ? and n_regionkey = $1", [1, 2], "either"),
    ("select * from nation where n_nationkey = $1", 7, "sequence"),
])
def test_missing_or_extra_parameters_are_sql_errors(session: Any, sql: str, params: Any, message: str) -> None:
    with pytest.raises(SQLError, match=message):
        session.sql(sql, params)


def test_prepare_gives_the_result_and_parameter_schemas(session: Any) -> None:
    prepared = session.prepare(
        "select c_name, c_acctbal from customer where c_nationkey = $1 and c_acctbal > $2 and c_mktsegment = $3 "
        "limit $4")
    assert prepared.dataset_schema.names == ["c_name", "c_acctbal"]
    assert [f.type for f in prepared.dataset_schema] == [pa.string(), pa.decimal128(15, 2)]
    assert prepared.parameter_schema.names == ["1", "2", "3", "4"]
    # Types as DataFusion infers them from the comparisons; LIMIT's placeholder has none.
    assert [f.type for f in prepared.parameter_schema] == [pa.int64(), pa.decimal128(15, 2), pa.string(), pa.null()]
    rows = prepared.bind([3, Decimal("9000"), "BUILDING", 5]).to_arrow()
    expected = _expected(session, "select c_name, c_acctbal from customer where c_nationkey = 3 and "
                                  "c_acctbal > 9000 and c_mktsegment = 'BUILDING' limit 5")
    assert rows.num_rows == expected.num_rows > 0
    with pytest.raises(SQLError, match=r"no value for \$4"):
        prepared.bind([3, 1, "BUILDING"])


def test_prepare_named_and_question_mark_placeholders(session: Any) -> None:
    named = session.prepare("select n_name from nation where n_regionkey = $region or n_nationkey = $key")
    assert named.parameter_schema == pa.schema([pa.field("region", pa.int64()), pa.field("key", pa.int64())])
    assert named.bind({"key": 0, "region": 99}).to_pydict() == {"n_name": ["ALGERIA"]}
    marks = session.prepare("select count(*) as n from nation where n_regionkey = ?")
    assert marks.parameter_schema.names == ["1"]
    assert marks.bind([0]).to_pydict() == {"n": [5]}


def test_prepare_statements_without_rows_or_parameters(session: Any, tmp_path: Path) -> None:
    plain = session.prepare("select count(*) as n from nation")
    assert plain.parameter_schema == pa.schema([]) and plain.dataset_schema.names == ["n"]
    assert plain.bind().to_pydict() == {"n": [25]}
    ddl = session.prepare(f"CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION '{tmp_path}'")
    assert ddl.dataset_schema == pa.schema([]) and ddl.parameter_schema == pa.schema([])
    assert "x" not in session.tables()  # prepared, not run
    copy = session.prepare(f"COPY (select * from nation where n_regionkey = $1) TO '{tmp_path / 'out'}' "
                           "(FORMAT parquet)")
    assert copy.dataset_schema.names == ["count"]
    assert [f.type for f in copy.parameter_schema] == [pa.int64()]
    assert copy.bind([2]).to_pydict() == {"count": [5]}
    assert session.prepare("show tables").dataset_schema.names[2] == "table_name"


def test_placeholders_are_found_outside_literals_and_comments() -> None:
    sql = "select '$1 ?', \"a$2\", x$3 from t -- $4 ?\n where a = $2 and b = $1 and c = $name /* ? */"
    assert placeholder_names(sql) == ["1", "2", "name"]
    assert number_question_marks("select '?' from t where a = ? and b = ?") == \
        "select '?' from t where a = $1 and b = $2"


def test_parameters_in_a_view_are_refused(session: Any) -> None:
    with pytest.raises(UnsupportedSQLError, match="CREATE VIEW"):
        session.sql("create view v as select * from nation where n_nationkey = $1", [1])
    assert "v" not in [info.name for info in session.table_infos()]
