"""information_schema and SHOW <setting>: answered from the catalog, alone; refused with data
tables, naming the table."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from planner.errors import UnsupportedSQLError


@pytest.fixture()
def session(tpch_data: dict[str, str], connect_for_tests: Callable[..., Any]) -> Any:
    s = connect_for_tests(tables={"nation": tpch_data["nation"], "region": tpch_data["region"]})
    s.sql("create view asia as select n_name from nation where n_regionkey = 2")
    return s


def test_information_schema_lists_tables_views_and_columns(session: Any) -> None:
    tables = session.sql("select table_name, table_type from information_schema.tables "
                         "where table_schema = 'public' order by table_name").to_arrow().to_pylist()
    assert tables == [{"table_name": "asia", "table_type": "VIEW"},
                      {"table_name": "nation", "table_type": "BASE TABLE"},
                      {"table_name": "region", "table_type": "BASE TABLE"}]
    columns = session.sql("select column_name from information_schema.columns where table_name = 'region' "
                          "order by ordinal_position").to_arrow().column(0).to_pylist()
    assert columns == ["r_regionkey", "r_name", "r_comment"]
    assert session.sql("show columns from nation").to_arrow().num_rows == 4
    views = session.sql("select definition from information_schema.views where table_name = 'asia'").to_arrow()
    assert "n_regionkey = 2" in views.column(0)[0].as_py()


def test_show_a_setting_and_count_routines(session: Any) -> None:
    (row,) = session.sql("show datafusion.execution.target_partitions").to_arrow().to_pylist()
    assert row["name"] == "datafusion.execution.target_partitions" and int(row["value"]) >= 1
    (count,) = session.sql("select count(*) from information_schema.routines").to_arrow().column(0).to_pylist()
    assert count > 100


def test_information_schema_with_data_tables_is_refused_naming_it(session: Any) -> None:
    with pytest.raises(UnsupportedSQLError, match="information_schema.tables.*queried on its own"):
        session.sql("select n_name from nation join information_schema.tables on n_name = table_name")


def test_a_prepared_metadata_query_has_the_schema_it_answers_with(session: Any) -> None:
    sql = "select table_name, table_type from information_schema.tables where table_schema = 'public'"
    prepared = session.prepare(sql)
    assert prepared.dataset_schema == session.sql(sql).to_arrow().schema
