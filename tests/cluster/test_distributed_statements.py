"""COPY and CREATE TABLE AS on a Dask cluster: every file is written by the worker that computed its
partition, never through the client; a failed write leaves nothing; listeners follow the jobs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from gpu_exec.testing.compare import compare_tables
from planner.errors import ExecutionError
from scheduler.runner import JobListener

QUERY = "select o_orderkey, o_custkey, o_orderstatus, o_totalprice, o_orderdate from orders where o_orderkey % 5 = 0"


@pytest.fixture(scope="module")
def cluster_session(connect_for_tests: Callable[..., Any], tpch_data: dict[str, str],
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    warehouse = tmp_path_factory.mktemp("warehouse")
    session = connect_for_tests(4, {"orders": tpch_data["orders"]}, workers=2, progress="off",
                                warehouse=str(warehouse))
    yield session
    session.close()


class _Recorder(JobListener):
    def __init__(self) -> None:
        self.tasks: list[tuple[int, str]] = []  # (stage, worker address)

    def task_finished(self, job: Any, report: Any) -> None:
        self.tasks.append((report.stage_id, report.output.worker))


def _assert_written_by_workers(df: Any) -> None:
    # Operator metrics of a distributed run come only from the tasks' reports: the workers ran the
    # writes (one count row each); the client fetched the one-row result, not the data.
    assert df.metrics["FileWrite"].rows == df.metrics["FileWrite"].calls > 1
    assert df.job_summary is not None and df.job_summary.result_bytes < 4096


@pytest.mark.parametrize("file_format", ["parquet", "csv"])
def test_copy_on_a_cluster(cluster_session: Any, tmp_path: Path, file_format: str) -> None:
    target = tmp_path / "out"
    df = cluster_session.sql(f"COPY ({QUERY}) TO '{target}' (FORMAT {file_format})")
    recorder = _Recorder()
    result = df.to_arrow(listeners=[recorder])
    expected = cluster_session.sql(QUERY).to_arrow()
    assert result.to_pydict() == {"count": [expected.num_rows]}
    _assert_written_by_workers(df)
    assert {worker for _, worker in recorder.tasks} <= set(cluster_session.dask_client.scheduler_info()["workers"])
    files = sorted(os.listdir(target))
    assert len(files) > 1 and all(f.endswith(f".{file_format}") for f in files)
    if file_format == "parquet":
        written = pq.read_table(target)
    else:
        options = pacsv.ConvertOptions(column_types=expected.schema)
        written = pa.concat_tables(pacsv.read_csv(target / f, convert_options=options) for f in files)
    assert not compare_tables(written, expected, False)


def test_create_table_as_on_a_cluster(cluster_session: Any, assert_matches_datafusion: Callable[..., Any]) -> None:
    query = "select o_custkey, count(*) as n, max(o_totalprice) as top from orders group by o_custkey"
    created = cluster_session.sql(f"CREATE OR REPLACE TABLE per_customer AS {query}")
    expected = cluster_session.sql(query).to_arrow()
    assert created.to_pydict() == {"count": [expected.num_rows]}
    directory = Path(cluster_session.config.warehouse) / "per_customer"
    assert len(os.listdir(directory)) > 1
    assert not compare_tables(cluster_session.sql("select * from per_customer").to_arrow(), expected, False)
    # DataFusion reading the written files agrees with gpu-exec reading its new table.
    assert_matches_datafusion("select count(*) as customers, sum(n) as orders, max(top) as top from per_customer",
                              {"per_customer": str(directory)}, session=cluster_session)
    cluster_session.sql("DROP TABLE per_customer")
    assert not directory.exists()


def test_a_failing_copy_on_a_cluster_leaves_no_files(cluster_session: Any, tmp_path: Path) -> None:
    target = tmp_path / "failed"
    df = cluster_session.sql(f"COPY (select o_orderkey / (o_orderkey - 600000) as q from orders) TO '{target}' "
                             "(FORMAT parquet)")
    with pytest.raises(ExecutionError, match="(?i)divide by zero|division by zero"):
        df.to_arrow()
    assert os.listdir(tmp_path) == []
