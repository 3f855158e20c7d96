"""Statements beyond queries in the embedded session: CREATE EXTERNAL TABLE, DROP TABLE, SHOW TABLES,
DESCRIBE, COPY ... TO and CREATE TABLE ... AS SELECT (files written by the executors)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from gpu_exec.testing.compare import compare_tables
from planner.errors import CatalogError, ExecutionError, SQLError, UnsupportedSQLError
from planner.ir import FileWrite, walk_plan
from planner.sql_text import rewrite_copy_options
from planner.stages import cut_stages, render_stages, task_plan

ORDERS_QUERY = "select o_orderkey, o_custkey, o_orderstatus, o_totalprice, o_orderdate from orders where o_orderkey % 7 = 0"


@pytest.fixture
def session(connect_for_tests: Callable[..., Any], tmp_path: Path) -> Iterator[Any]:
    s = connect_for_tests(4, warehouse=str(tmp_path / "warehouse"))
    yield s
    s.close()


def _same_rows(actual: pa.Table, expected: pa.Table, ordered: bool = False) -> None:
    differences = compare_tables(actual, expected, ordered)
    assert not differences, "\n".join(differences)


# ---- CREATE EXTERNAL TABLE, SHOW TABLES, DESCRIBE, DROP TABLE ---------------------------------


def test_external_parquet_table_round_trip(
        session: Any, tpch_data: dict[str, str], assert_matches_datafusion: Callable[..., Any]) -> None:
    create = f"CREATE EXTERNAL TABLE orders STORED AS PARQUET LOCATION '{tpch_data['orders']}'"
    assert session.sql(create).to_arrow().num_rows == 0
    assert session.sql("SHOW TABLES").to_pylist() == [
        {"table_catalog": "datafusion", "table_schema": "public", "table_name": "orders", "table_type": "BASE TABLE"}]
    # The same DDL on DataFusion, then the same query: the table reads the same rows on both.
    assert_matches_datafusion(f"{create}; select o_orderstatus, count(*) as n, sum(o_totalprice) as total "
                              "from orders group by o_orderstatus", {})
    result = session.sql("select count(*) as n from orders").to_arrow()
    assert result.column("n").to_pylist() == [pq.ParquetFile(tpch_data["orders"]).metadata.num_rows]
    assert session.sql("DROP TABLE orders").to_arrow().num_rows == 0
    assert session.tables() == [] and session.sql("SHOW TABLES").to_arrow().num_rows == 0
    with pytest.raises(CatalogError, match="unknown table 'orders'"):
        session.sql("select * from orders")


def test_create_or_replace_external_table(session: Any, tpch_data: dict[str, str]) -> None:
    def create(name: str, table: str, replace: bool = True) -> None:
        verb = "CREATE OR REPLACE" if replace else "CREATE"
        session.sql(f"{verb} EXTERNAL TABLE {name} STORED AS PARQUET LOCATION '{tpch_data[table]}'")

    create("t", "nation")
    with pytest.raises(CatalogError, match="'t' already exists .*CREATE OR REPLACE"):
        create("t", "region", replace=False)
    create("t", "region")
    assert session.sql("select count(*) as n from t").to_pylist() == [{"n": 5}]
    session.sql("CREATE TABLE made AS SELECT * FROM t")
    with pytest.raises(CatalogError, match="made by CREATE TABLE AS .*DROP TABLE made first"):
        create("made", "nation")  # would orphan the warehouse's files
    assert session.sql("select count(*) as n from made").to_pylist() == [{"n": 5}]


def test_external_csv_table_with_declared_columns_and_options(
        session: Any, tmp_path: Path, assert_matches_datafusion: Callable[..., Any]) -> None:
    path = tmp_path / "people.csv"
    path.write_text("1;ann;12.50;2024-01-02\n2;bob;;2024-02-03\n3;cy;7.25;\n")
    create = (f"CREATE EXTERNAL TABLE people (id BIGINT, name VARCHAR, score DECIMAL(6, 2), day DATE) "
              f"STORED AS CSV LOCATION '{path}' OPTIONS ('has_header' 'false', 'delimiter' ';')")
    session.sql(create)
    assert session.sql("DESCRIBE people").to_pylist() == [
        {"column_name": "id", "data_type": "int64", "is_nullable": "YES"},
        {"column_name": "name", "data_type": "string", "is_nullable": "YES"},
        {"column_name": "score", "data_type": "decimal128(6, 2)", "is_nullable": "YES"},
        {"column_name": "day", "data_type": "date32[day]", "is_nullable": "YES"},
    ]
    assert_matches_datafusion(f"{create}; select id, name, score, day from people where score is not null or day is null",
                              {})
    assert session.sql("select name from people where score > 10").to_pydict() == {"name": ["ann"]}


def test_csv_table_with_a_header_line(session: Any, tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    pacsv.write_csv(pa.table({"k": [1, 2, 3], "v": ["a", "b", "c"]}), path)
    session.sql(f"CREATE EXTERNAL TABLE h STORED AS CSV LOCATION '{path}'")
    assert session.sql("select v from h where k >= 2 order by k").to_pydict() == {"v": ["b", "c"]}


def test_parquet_columns_can_be_declared_but_must_match_the_files(
        session: Any, tpch_data: dict[str, str]) -> None:
    path = tpch_data["nation"]
    session.sql(f"CREATE EXTERNAL TABLE n (n_name VARCHAR, n_nationkey BIGINT) STORED AS PARQUET LOCATION '{path}'")
    assert session.sql("select * from n where n_nationkey = 0").to_pylist() == [{"n_name": "ALGERIA", "n_nationkey": 0}]
    with pytest.raises(CatalogError, match="'n_nationkey' is declared int32 but is int64"):
        session.sql(f"CREATE EXTERNAL TABLE m (n_nationkey INT) STORED AS PARQUET LOCATION '{path}'")
    with pytest.raises(CatalogError, match="'nope' is not in the files"):
        session.sql(f"CREATE EXTERNAL TABLE m (nope INT) STORED AS PARQUET LOCATION '{path}'")


def test_ddl_errors_name_their_cause(session: Any, tmp_path: Path, tpch_data: dict[str, str]) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(CatalogError, match=str(missing)):
        session.sql(f"CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{missing}'")
    not_parquet = tmp_path / "x.csv"
    not_parquet.write_text("a\n1\n")
    with pytest.raises(CatalogError, match=f"{not_parquet}.*not a readable Parquet file"):
        session.sql(f"CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{not_parquet}'")
    create = f"CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{tpch_data['region']}'"
    session.sql(create)
    with pytest.raises(CatalogError, match="table 't' already exists"):
        session.sql(create)
    session.sql(create.replace("TABLE t", "TABLE IF NOT EXISTS t"))  # no error
    with pytest.raises(CatalogError, match="unknown table 'u'"):
        session.sql("DROP TABLE u")
    session.sql("DROP TABLE IF EXISTS u")
    session.sql("CREATE VIEW v AS SELECT r_name FROM t")
    with pytest.raises(SQLError, match="'v' is a view"):
        session.sql("DROP TABLE v")
    with pytest.raises(UnsupportedSQLError) as caught:
        session.sql(f"CREATE EXTERNAL TABLE j STORED AS JSON LOCATION '{tmp_path}' PARTITIONED BY (p)")
    assert any("PARTITIONED BY (p)" in r for r in caught.value.reasons)
    assert any("STORED AS JSON" in r for r in caught.value.reasons)
    with pytest.raises(UnsupportedSQLError, match="unknown option 'quote'"):
        session.sql(f"CREATE EXTERNAL TABLE c STORED AS CSV LOCATION '{not_parquet}' OPTIONS ('quote' '|')")
    assert session.sql("select count(*) as n from t").to_pydict() == {"n": [5]}  # still answers


def test_table_infos_lists_tables_and_views(session: Any, tpch_data: dict[str, str]) -> None:
    session.register_parquet("region", tpch_data["region"])
    session.sql("CREATE VIEW names AS SELECT r_name AS name FROM region")
    infos = session.table_infos()
    assert [(i.name, i.kind) for i in infos] == [("names", "VIEW"), ("region", "TABLE")]
    assert [(f.name, f.type) for f in infos[0].schema] == [("name", pa.string())]
    assert infos[1].schema.names == ["r_regionkey", "r_name", "r_comment"]
    assert session.sql("show tables").to_pydict()["table_type"] == ["VIEW", "BASE TABLE"]


# ---- COPY --------------------------------------------------------------------------------------


@pytest.mark.parametrize("partitions", [1, 4])
@pytest.mark.parametrize("file_format", ["parquet", "csv"])
def test_copy_writes_one_file_per_partition(
        connect_for_tests: Callable[..., Any], tpch_data: dict[str, str], tmp_path: Path,
        partitions: int, file_format: str) -> None:
    session = connect_for_tests(partitions, {"orders": tpch_data["orders"]})
    try:
        target = tmp_path / "out"
        df = session.sql(f"COPY ({ORDERS_QUERY}) TO '{target}' (FORMAT {file_format})")
        assert not target.exists()  # lazy, as DataFusion's COPY
        result = df.to_arrow()
        expected = session.sql(ORDERS_QUERY).to_arrow()
        assert result.to_pylist() == [{"count": expected.num_rows}]
        assert result.schema == pa.schema([pa.field("count", pa.uint64(), nullable=False)])
        files = sorted(os.listdir(target))
        assert files == [f"part-{i:05d}.{file_format}" for i in range(len(files))]
        assert (len(files) == 1) == (partitions == 1)
        if file_format == "parquet":
            written = pq.read_table(target)
            assert written.schema == expected.schema
        else:
            options = pacsv.ConvertOptions(column_types=expected.schema)
            written = pa.concat_tables(pacsv.read_csv(target / f, convert_options=options) for f in files)
        _same_rows(written, expected)
    finally:
        session.close()


COPY_STAGES = """\
Stage 1 (map): tasks=2
  ExchangeWrite(single): partitions=1
    Aggregate(partial): group_by=[] aggregates=[sum(count#0)]
      FileWrite(parquet): a file per partition into {staging}
        Filter: (r_regionkey#0 > 0)
          TableScan: region [r_regionkey, r_name] filters=[(r_regionkey#0 > 0)]
Stage 2 (final): tasks=1 inputs=[1]
  Aggregate(final): group_by=[] aggregates=[sum(count#0)]
    ExchangeRead(single): stage=1"""


def test_copy_plan_writes_where_the_partitions_are(session: Any, tpch_data: dict[str, str], tmp_path: Path) -> None:
    session.register_parquet("region", tpch_data["region"])
    df = session.sql(f"COPY (select r_regionkey, r_name from region where r_regionkey > 0) TO '{tmp_path / 'r'}' "
                     "(FORMAT parquet)")
    [write] = [n for n in walk_plan(df.physical_plan) if isinstance(n, FileWrite)]
    stages = cut_stages(df.physical_plan, lambda scan: 2)
    # The files are written in the map stage, one per task; the final stage only adds up counts.
    assert render_stages(stages) == COPY_STAGES.format(staging=write.directory)
    pinned = [n for n in walk_plan(task_plan(stages.stage(1), 1, lambda scan: 2)) if isinstance(n, FileWrite)]
    assert [n.partition for n in pinned] == [1]  # task 1 writes part-00001
    single = session.sql(f"COPY region TO '{tmp_path / 'r.parquet'}'")
    assert "Exchange(single)" in single.explain().split("FileWrite")[1]  # all rows to one writer


def test_copy_to_one_file_from_a_union(connect_for_tests: Callable[..., Any], tpch_data: dict[str, str],
                                       tmp_path: Path) -> None:
    session = connect_for_tests(1, {"region": tpch_data["region"]})  # a union has two partitions even so
    try:
        target = tmp_path / "both.csv"
        result = session.sql(f"COPY (select r_name from region union all select r_name from region) TO '{target}'")
        assert result.to_pydict() == {"count": [10]}
        assert os.listdir(tmp_path) == ["both.csv"] and len(target.read_text().splitlines()) == 11
    finally:
        session.close()


def test_copy_forms_and_options(tpch_data: dict[str, str], tmp_path: Path) -> None:
    # On the CPU whatever the test device: a compression *level* is an Arrow writer option
    # (libcudf's Parquet writer takes none, so a GPU session refuses it under fallback="raise").
    import gpu_exec

    session = gpu_exec.connect(device="cpu", partitions=4, warehouse=str(tmp_path / "warehouse"))
    try:
        _copy_forms_and_options(session, tpch_data, tmp_path)
    finally:
        session.close()


def _copy_forms_and_options(session: Any, tpch_data: dict[str, str], tmp_path: Path) -> None:
    session.register_parquet("orders", tpch_data["orders"])
    # DataFusion's own syntax, a table as the source, and one file named by its extension.
    single = tmp_path / "one.parquet"
    assert session.sql(f"COPY orders TO '{single}' STORED AS PARQUET OPTIONS ('compression' 'zstd(3)', "
                       "'max_row_group_size' '50000')").to_pydict() == {"count": [150000]}
    meta = pq.ParquetFile(single).metadata
    assert meta.num_rows == 150000 and meta.num_row_groups == 3
    assert meta.row_group(0).column(0).compression == "ZSTD"
    # Postgres' option list: sorted, so one partition and one file, in order.
    csv = tmp_path / "sorted"
    session.sql(f"COPY (select o_orderkey, o_orderdate from orders order by o_orderkey desc limit 10) "
                f"TO '{csv}' WITH (FORMAT csv, HEADER false, DELIMITER '|')").to_arrow()
    lines = (csv / "part-00000.csv").read_text().splitlines()
    assert os.listdir(csv) == ["part-00000.csv"] and len(lines) == 10
    assert lines[0].startswith("600000|")


def test_copy_refuses_what_it_cannot_write(session: Any, tpch_data: dict[str, str], tmp_path: Path) -> None:
    session.register_parquet("orders", tpch_data["orders"])
    with pytest.raises(UnsupportedSQLError) as caught:
        session.sql(f"COPY orders TO '{tmp_path / 'p'}' STORED AS PARQUET PARTITIONED BY (o_orderstatus) "
                    "OPTIONS ('compression' 'lzma', 'foo' 'bar')")
    reasons = caught.value.reasons
    assert len(reasons) == 3, reasons
    assert any("PARTITIONED BY (o_orderstatus)" in r for r in reasons)
    assert any("unknown Parquet compression 'lzma'" in r for r in reasons)
    assert any("unknown option 'foo'" in r for r in reasons)
    with pytest.raises(UnsupportedSQLError, match="STORED AS JSON"):
        session.sql(f"COPY orders TO '{tmp_path / 'j'}' (FORMAT json)")
    with pytest.raises(UnsupportedSQLError, match="several columns named 'o_orderkey'"):
        session.sql(f"COPY (select a.o_orderkey, b.o_orderkey from orders a join orders b using (o_orderkey)) "
                    f"TO '{tmp_path / 'd'}' (FORMAT parquet)")
    assert not any(tmp_path.iterdir())


def test_copy_refuses_a_target_that_has_files(session: Any, tpch_data: dict[str, str], tmp_path: Path) -> None:
    session.register_parquet("region", tpch_data["region"])
    target = tmp_path / "taken"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(CatalogError, match="already has files"):
        session.sql(f"COPY region TO '{target}' (FORMAT parquet)")
    empty = tmp_path / "empty"
    empty.mkdir()  # an empty directory is a fine target
    session.sql(f"COPY region TO '{empty}' (FORMAT parquet)").to_arrow()
    assert os.listdir(empty) == ["part-00000.parquet"]
    copy = session.sql(f"COPY region TO '{tmp_path / 'twice'}' (FORMAT parquet)")
    copy.to_arrow()
    with pytest.raises(CatalogError, match="already has files"):  # no silent clobbering on a rerun
        copy.to_arrow()
    assert (target / "keep.txt").read_text() == "mine"


def test_a_failing_copy_leaves_no_files(session: Any, tpch_data: dict[str, str], tmp_path: Path) -> None:
    session.register_parquet("orders", tpch_data["orders"])
    target = tmp_path / "failed"
    # Integer division by zero in one partition only: the others write their files first.
    df = session.sql(f"COPY (select o_orderkey / (o_orderkey - 600000) as q from orders) TO '{target}' "
                     "(FORMAT parquet)")
    with pytest.raises(ExecutionError, match="(?i)divide by zero|division by zero"):
        df.to_arrow()
    assert not target.exists()
    assert os.listdir(tmp_path) == []  # no staging directory either


# ---- CREATE TABLE AS SELECT ----------------------------------------------------------------------


def test_create_table_as_writes_the_warehouse_and_registers_the_table(
        session: Any, tpch_data: dict[str, str], tmp_path: Path, assert_matches_datafusion: Callable[..., Any]) -> None:
    session.register_parquet("orders", tpch_data["orders"])
    query = "select o_custkey, count(*) as n, sum(o_totalprice) as total from orders group by o_custkey"
    result = session.sql(f"CREATE TABLE per_customer AS {query}")  # runs at once
    directory = tmp_path / "warehouse" / "per_customer"
    files = sorted(os.listdir(directory))
    assert files and all(f.startswith("part-") and f.endswith(".parquet") for f in files)
    expected = session.sql(query).to_arrow()
    assert result.to_pydict() == {"count": [expected.num_rows]}
    _same_rows(session.sql("select * from per_customer").to_arrow(), expected)
    # The new table is an ordinary Parquet table: the same as DataFusion reading its files.
    assert_matches_datafusion("select n, count(*) as customers from per_customer group by n",
                              {"per_customer": str(directory)}, session=session)
    assert ("per_customer", "TABLE") in [(i.name, i.kind) for i in session.table_infos()]

    with pytest.raises(CatalogError, match="already exists"):
        session.sql(f"CREATE TABLE per_customer AS {query}")
    assert session.sql(f"CREATE TABLE IF NOT EXISTS per_customer AS {query}").to_pydict() == {"count": [0]}
    replaced = session.sql("CREATE OR REPLACE TABLE per_customer AS select 1 as one")
    assert replaced.to_pydict() == {"count": [1]}
    assert session.sql("select * from per_customer").to_pydict() == {"one": [1]}
    assert sorted(os.listdir(tmp_path / "warehouse")) == ["per_customer"]  # old files swapped out
    session.sql("DROP TABLE per_customer")
    assert not directory.exists()  # the session's own table: its files go with it
    session.sql(f"CREATE TABLE per_customer AS {query}")  # and the name is free again


def test_create_table_as_refuses_a_warehouse_directory_with_files(session: Any, tmp_path: Path) -> None:
    leftover = tmp_path / "warehouse" / "t"
    leftover.mkdir(parents=True)
    pq.write_table(pa.table({"x": [1]}), leftover / "part-00000.parquet")
    with pytest.raises(CatalogError, match="OR REPLACE"):
        session.sql("CREATE TABLE t AS SELECT 2 AS x")
    session.sql("CREATE OR REPLACE TABLE t AS SELECT 2 AS x")
    assert session.sql("select x from t").to_pydict() == {"x": [2]}


# ---- the Postgres COPY syntax -------------------------------------------------------------------


@pytest.mark.parametrize(("sql", "rewritten"), [
    ("COPY t TO '/x' (FORMAT parquet)", "COPY t TO '/x' STORED AS parquet"),
    ("copy (select ')' as a from t) to '/x(1)' with (format 'csv', header, delimiter '|');",
     "copy (select ')' as a from t) to '/x(1)' STORED AS csv OPTIONS ('header' 'true', 'delimiter' '|')"),
    ("COPY t TO '/x' (COMPRESSION 'zstd(1)', FORMAT PARQUET)",
     "COPY t TO '/x' STORED AS PARQUET OPTIONS ('compression' 'zstd(1)')"),
    ("COPY t TO '/x.parquet'", "COPY t TO '/x.parquet'"),
    ("COPY t TO '/x' STORED AS CSV", "COPY t TO '/x' STORED AS CSV"),
    ("SELECT 'COPY t TO' FROM x (FORMAT parquet)", "SELECT 'COPY t TO' FROM x (FORMAT parquet)"),
])
def test_rewrite_copy_options(sql: str, rewritten: str) -> None:
    assert rewrite_copy_options(sql) == rewritten


def test_a_failed_file_write_leaves_no_half_file(tmp_path: Path) -> None:
    from fallback_cpu.kernels import ArrowKernels
    from gpu_exec.engine.context import ExecutionContext
    from gpu_exec.engine.operators.write import write_files
    from planner.ir import EmptyRelation, FileFormat
    from planner.statements import COUNT_SCHEMA

    class FailingHalfWay(ArrowKernels):
        def write_file(self, table: Any, schema: pa.Schema, path: str, file_format: Any) -> None:
            Path(path).write_bytes(b"PAR1 half a file")
            raise OSError("disk full")

    data = pa.table({"x": [1, 2, 3]})
    node = FileWrite(EmptyRelation(False, data.schema), str(tmp_path), FileFormat("parquet"), False, COUNT_SCHEMA)
    with pytest.raises(OSError, match="disk full"):
        write_files(node, [data], ExecutionContext(kernels=FailingHalfWay(), partitions=1))
    assert os.listdir(tmp_path) == []
    # Then one file per partition with rows (an empty partition other than 0 writes none).
    counts = write_files(node, [data, data.slice(0, 0), data.slice(1)],
                         ExecutionContext(kernels=ArrowKernels(), partitions=3))
    assert [t.to_pylist() for t in counts] == [[{"count": 3}], [{"count": 0}], [{"count": 2}]]
    assert sorted(os.listdir(tmp_path)) == ["part-00000.parquet", "part-00002.parquet"]


def test_the_default_warehouse_is_in_the_users_data_directory(tmp_path: Any, monkeypatch: Any) -> None:
    from gpu_exec.engine.config import Config

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    assert Config.build().warehouse == str(tmp_path / "data" / "gpu-exec" / "warehouse")
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert Config.build().warehouse == str(tmp_path / "home" / ".local" / "share" / "gpu-exec" / "warehouse")
