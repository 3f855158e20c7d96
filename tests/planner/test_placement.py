"""Placement: every operator on GPU or CPU with the reason, planned (and testable) without a GPU."""

from __future__ import annotations

import os
import re
import warnings
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import gpu_exec
from fallback_cpu.kernels import ArrowKernels
from gpu_exec.engine.device import DeviceChoice
from gpu_exec.testing.tpch import QUERY_NUMBERS, query_sql
from gpu_exec.api.sql_scripts import split_statements
from planner.errors import UnsupportedSQLError
from planner.placement import GpuFallbackWarning, apply_fallback_policy

FALLBACK_SQL = "select id, replace(s, '', 'x') as r from t where id > 1"
FALLBACK_REASON = "replace() with an empty search string"


@pytest.fixture(scope="module")
def table_t(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    path = tmp_path_factory.mktemp("placement") / "t.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3, 4], "s": ["a", None, "bc", "d"]}), path, row_group_size=2)
    return {"t": str(path)}


def _endings(explain: str) -> list[str]:
    return [line[line.index(" @"):].strip() for line in explain.splitlines()]


@pytest.mark.parametrize("number", QUERY_NUMBERS, ids=lambda n: f"q{n:02d}")
def test_every_tpch_query_places_fully_on_gpu(number: int, tpch_data: dict[str, str], connect_for_tests: Callable[..., Any]) -> None:
    session = connect_for_tests(4, tpch_data)
    try:
        for statement in split_statements(query_sql(number)):
            df = session.sql(statement)
            if statement.lstrip().lower().startswith(("select", "with")):
                endings = _endings(df.explain(device="gpu"))
                assert endings and set(endings) == {"@gpu"}, df.explain(device="gpu")
    finally:
        session.close()


def _cpu_session(tables: dict[str, str]) -> Any:
    """A CPU session, whatever the test device: placement for the GPU is planned on it without
    one (``explain(device="gpu")``, ``placement("gpu")``), and a GPU session of the differential
    tests (fallback="raise") would refuse the fallback before it can be inspected."""
    session = gpu_exec.connect(device="cpu", partitions=2)
    for name, path in tables.items():
        session.register_parquet(name, path)
    return session


def test_unsupported_expression_falls_back_with_its_reason(table_t: dict[str, str]) -> None:
    df = _cpu_session(table_t).sql(FALLBACK_SQL)
    lines = df.explain(device="gpu").splitlines()
    fallback = [line for line in lines if "@cpu" in line]
    assert len(fallback) == 1 and fallback[0].lstrip().startswith("Projection:")
    assert fallback[0].endswith(f"@cpu: {FALLBACK_REASON}: libcudf and DataFusion disagree on it")
    assert all(line.endswith("@gpu") for line in lines if line not in fallback)


def test_cpu_session_places_everything_on_cpu_without_reasons(table_t: dict[str, str]) -> None:
    df = _cpu_session(table_t).sql(FALLBACK_SQL)
    assert set(_endings(df.explain())) == {"@cpu"}


def test_fallback_policies(table_t: dict[str, str]) -> None:
    placement = _cpu_session(table_t).sql(FALLBACK_SQL).placement("gpu")
    with pytest.raises(UnsupportedSQLError) as caught:
        apply_fallback_policy(placement, "raise")
    assert any(FALLBACK_REASON in r and "Projection" in r for r in caught.value.reasons)
    with pytest.warns(GpuFallbackWarning, match=re.escape(FALLBACK_REASON)) as record:
        apply_fallback_policy(placement, "warn")
    assert len(record) == 1  # once per query
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        apply_fallback_policy(placement, "silent")


class _StandInGpuKernels(ArrowKernels):
    """Arrow kernels under the name "gpu": exercises placement and device transfers on a CPU."""

    name = "gpu"


@pytest.fixture
def gpu_like_session(monkeypatch: pytest.MonkeyPatch, table_t: dict[str, str]) -> Any:
    import gpu_exec.api.session as session_module

    monkeypatch.setattr(session_module, "choose_device", lambda requested: DeviceChoice("gpu"))
    real_make = session_module.make_kernels
    monkeypatch.setattr(
        session_module, "make_kernels", lambda d, memory=None: _StandInGpuKernels() if d.name == "gpu" else real_make(d)
    )
    return table_t


def test_mixed_placement_runs_with_transfers_and_right_answer(gpu_like_session: dict[str, str]) -> None:
    session = gpu_exec.connect(device="gpu", partitions=2, fallback="silent")
    session.register_parquet("t", gpu_like_session["t"])
    df = session.sql(FALLBACK_SQL + " order by id")
    result = df.to_arrow()
    assert result.to_pydict() == {"id": [2, 3, 4], "r": [None, "bc", "d"]}
    transfers = {name for name in df.metrics if name.startswith("Transfer")}
    assert transfers == {"Transfer(gpu→cpu)", "Transfer(cpu→gpu)"}


def test_gpu_session_with_raise_refuses_a_fallback_at_plan_time(gpu_like_session: dict[str, str]) -> None:
    session = gpu_exec.connect(device="gpu", partitions=2, fallback="raise")
    session.register_parquet("t", gpu_like_session["t"])
    with pytest.raises(UnsupportedSQLError, match=re.escape(FALLBACK_REASON)):
        session.sql(FALLBACK_SQL)
    assert session.sql("select id from t").to_arrow().num_rows == 4  # the session keeps serving


def test_mixed_placement_on_the_test_device_matches_datafusion(
        table_t: dict[str, str], assert_matches_datafusion: Callable[..., Any]) -> None:
    """The fallback plan executed for real on the test device (the cuDF kernels on a GPU or the
    simulator): the Projection on the CPU between GPU operators, with the transfers both ways."""
    device = os.environ.get("GPU_EXEC_TEST_DEVICE", "cpu")  # "gpu" on a GPU and on the simulator
    session = gpu_exec.connect(device=device, partitions=2, fallback="silent")
    try:
        session.register_parquet("t", table_t["t"])
        sql = FALLBACK_SQL + " order by id"
        result = assert_matches_datafusion(sql, table_t, session=session)
        assert result.to_pydict() == {"id": [2, 3, 4], "r": [None, "bc", "d"]}
        df = session.sql(sql)
        df.to_arrow()
        transfers = {name for name in df.metrics if name.startswith("Transfer")}
        on_gpu = device == "gpu"
        assert transfers == ({"Transfer(gpu→cpu)", "Transfer(cpu→gpu)"} if on_gpu else set())
    finally:
        session.close()
