"""Shared test fixtures and the one oracle, ``assert_matches_datafusion``.

The helpers are plain functions, offered as fixtures of the same names: request
``assert_matches_datafusion``, ``assert_translation_raises`` or ``connect_for_tests`` as test
arguments rather than importing them. ``from conftest import ...`` breaks as soon as a subfolder has
its own conftest.py: pytest imports every conftest.py as the module ``conftest``, and collects
tests/kernels/ (with its conftest) before tests/test_*.py.
"""

from __future__ import annotations

import datetime
import decimal
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Mapping

import pytest

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "REPO",
    "TEST_DEVICE",
    "tpch_dir",
    "connect_for_tests",
    "assert_matches_datafusion",
    "assert_translation_raises",
]

REPO = Path(__file__).resolve().parents[1]


def _test_device() -> str:
    """GPU_EXEC_TEST_DEVICE: "cpu" (default), "gpu" (a real GPU), or "sim": the GPU tests on the
    pylibcudf simulator. For "sim", tests/gpu_sim goes first on sys.path and PYTHONPATH (so this
    process and its subprocesses — Dask workers, CLI runs — import the simulated pylibcudf, rmm,
    cupy, dask_cuda and distributed_ucxx, the ucx:// comm) and tests/gpu_sim/bin first on PATH
    (its nvidia-smi lists GPU_EXEC_SIM_GPUS simulated GPUs, 2 unless set, which is how gpu-exec
    finds GPUs without a driver); the tests then run as on a GPU (device "gpu", and
    GPU_EXEC_TEST_DEVICE=gpu for code that reads the variable). gpu_exec itself is not told."""
    device = os.environ.get("GPU_EXEC_TEST_DEVICE", "cpu")
    if device != "sim":
        return device
    sim = REPO / "tests" / "gpu_sim"
    for name in ("pylibcudf", "rmm", "cupy", "distributed_ucxx"):
        module = sys.modules.get(name)
        if module is not None and not str(getattr(module, "__file__", "")).startswith(str(sim)):
            raise RuntimeError(f"GPU_EXEC_TEST_DEVICE=sim: the real {name} was imported before tests/conftest.py")
    sys.path.insert(0, str(sim))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(sim), *filter(None, [os.environ.get("PYTHONPATH")])])
    os.environ["PATH"] = os.pathsep.join([str(sim / "bin"), os.environ.get("PATH", "")])
    os.environ["GPU_EXEC_TEST_DEVICE"] = "gpu"
    os.environ.setdefault("GPU_EXEC_SIM_GPUS", "2")  # so GPU clusters get 2 executors (dask_cuda stand-in)
    return "gpu"


# The device every differential test runs gpu-exec on: the CPU here; ci/gpu/run sets "gpu", so the
# same tests prove the cuDF kernels (GPU == DataFusion there, CPU == DataFusion everywhere); "sim"
# runs them on the pylibcudf simulator (_test_device).
TEST_DEVICE = _test_device()
DEFAULT_PARTITIONS = 4  # more than one, so exchanges and merges are exercised by default

Tables = Mapping[str, "str | os.PathLike[str]"]


def tpch_dir(env_var: str, sf: float) -> Path:
    """Where TPC-H data at ``sf`` is cached: ``$env_var``, else ``~/.cache/gpu-exec/tpch-sf{sf}``."""
    if os.environ.get(env_var):
        return Path(os.environ[env_var])
    return Path.home() / ".cache" / "gpu-exec" / f"tpch-sf{sf:g}"


@pytest.fixture(scope="session")
def tpch_data() -> dict[str, str]:
    """``{table: path}`` of TPC-H SF 0.1 Parquet, generated once into the cache (GPU_EXEC_TPCH_DIR)."""
    from gpu_exec.testing.tpch import ensure_data

    return ensure_data(0.1, tpch_dir("GPU_EXEC_TPCH_DIR", 0.1))


@pytest.fixture(scope="session")
def tpch_sf1_data() -> dict[str, str]:
    """``{table: path}`` of TPC-H SF1 Parquet (GPU_EXEC_TPCH_SF1_DIR), generated if missing."""
    from gpu_exec.testing.tpch import ensure_data

    return ensure_data(1, tpch_dir("GPU_EXEC_TPCH_SF1_DIR", 1))


@pytest.fixture(scope="session")
def tpch_answers() -> Path:
    """The official TPC-H SF1 answer files (q01.out .. q22.out of the TPC-H tools kit) in the
    directory $GPU_EXEC_TPCH_ANSWERS; skips when it is not set."""
    answers = Path(os.environ.get("GPU_EXEC_TPCH_ANSWERS", ""))
    if not os.environ.get("GPU_EXEC_TPCH_ANSWERS") or not (answers / "q01.out").is_file():
        pytest.skip("set GPU_EXEC_TPCH_ANSWERS to a directory of the official TPC-H SF1 answer files "
                    "(q01.out .. q22.out)")
    return answers


def _sample_table() -> pa.Table:
    import pyarrow as pa

    n = 1000
    return pa.table({
        "id": pa.array(range(n), pa.int64()),
        "grp": pa.array([f"g{i % 7}" for i in range(n)], pa.string()),
        "price": pa.array([decimal.Decimal(i % 97) / 4 for i in range(n)], pa.decimal128(12, 2)),
        "qty": pa.array([None if i % 50 == 0 else i * 0.5 for i in range(n)], pa.float64()),
        "day": pa.array([datetime.date(2024, 1, 1) + datetime.timedelta(days=i % 365)
                         for i in range(n)], pa.date32()),
    })


@pytest.fixture(scope="session")
def sample_tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A small table with ints, strings, decimals, floats with NULLs and dates, twice:
    ``{"items": <.parquet>, "items_csv": <.csv>}`` (the CSV has no decimal column)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    folder = tmp_path_factory.mktemp("sample")
    table = _sample_table()
    parquet, csv = folder / "items.parquet", folder / "items.csv"
    pq.write_table(table, parquet, row_group_size=300)
    pacsv.write_csv(table.drop_columns(["price"]), csv)
    return {"items": str(parquet), "items_csv": str(csv)}


def connect_for_tests(partitions: int = DEFAULT_PARTITIONS, tables: Tables | None = None, **options: object) -> object:
    """A gpu-exec session as the differential tests use it: TEST_DEVICE, fallback="raise"
    (unless ``options`` say otherwise); ``options`` are further ``connect`` arguments (e.g.
    ``broadcast_rows=0``)."""
    import gpu_exec
    from gpu_exec.api.sql_scripts import register_tables

    options = {"fallback": "raise", **options}
    session = gpu_exec.connect(device=TEST_DEVICE, partitions=partitions, **options)
    if tables:
        register_tables(session, tables)
    return session


def assert_matches_datafusion(
    sql: str,
    tables: Tables,
    *,
    partitions: int = DEFAULT_PARTITIONS,
    ordered: bool | None = None,
    session: object | None = None,
    **connect_options: object,
) -> pa.Table:
    """Run ``sql`` on gpu-exec and on DataFusion over the same files; fail on any difference.

    Parameters
    ----------
    sql
        One statement, or a script of ';'-separated statements (e.g. CREATE VIEW; SELECT; DROP
        VIEW) whose last query's results are compared.
    tables
        ``{name: path}`` of .parquet / .csv files or directories, registered on both engines.
    partitions
        gpu-exec's partition count, when ``session`` is not given.
    ordered
        Compare row order too; by default, when the last query's outermost clause has ORDER BY.
    session
        An open gpu-exec session with ``tables`` already registered, to reuse it across tests;
        default a new ``connect(device=TEST_DEVICE, partitions=partitions, fallback="raise")``.
    connect_options
        Further ``gpu_exec.connect`` arguments for that new session (e.g. ``broadcast_rows=0``).

    Returns
    -------
    pa.Table
        gpu-exec's result, for further assertions.
    """
    __tracebackhide__ = True
    from gpu_exec.testing.compare import compare_tables, query_is_ordered
    from gpu_exec.api.sql_scripts import (datafusion_context, last_query, run_on_datafusion,
                                      run_on_gpu_exec)

    if ordered is None:
        ordered = query_is_ordered(last_query(sql))
    expected = run_on_datafusion(datafusion_context(tables), sql).table
    if session is None:
        own = connect_for_tests(partitions, tables, **connect_options)
        try:
            actual = run_on_gpu_exec(own, sql).table
        finally:
            own.close()  # type: ignore[attr-defined]
    else:
        actual = run_on_gpu_exec(session, sql).table
    differences = compare_tables(actual, expected, ordered)
    if differences:
        pytest.fail(
            f"gpu-exec and DataFusion differ ({'ordered' if ordered else 'unordered'} comparison)\n"
            f"SQL:\n{sql}\ndifferences:\n  " + "\n  ".join(differences),
            pytrace=False,
        )
    return actual


def assert_translation_raises(sql: str, tables: Tables, reason_substring: str) -> None:
    """Planning ``sql`` must raise UnsupportedSQLError with a reason containing ``reason_substring``.

    Unsupported SQL is found at plan time (``session.sql``), never while running the query.
    """
    __tracebackhide__ = True
    from planner.errors import UnsupportedSQLError

    session = connect_for_tests(tables=tables)
    try:
        with pytest.raises(UnsupportedSQLError) as caught:
            session.sql(sql)  # type: ignore[attr-defined]
    finally:
        session.close()  # type: ignore[attr-defined]
    reasons = caught.value.reasons
    if not any(reason_substring in reason for reason in reasons):
        pytest.fail(f"no reason mentions {reason_substring!r}; reasons: {reasons}", pytrace=False)


class Background:
    """``fn`` running on a thread, for tests that act on it meanwhile (cancel it, watch it)."""

    def __init__(self, fn: Callable[[], object]) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], object]) -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 — what it raised is the test's subject
            self._error = exc

    def done(self) -> bool:
        return not self._thread.is_alive()

    def error(self, timeout: float = 120.0) -> BaseException | None:
        """Wait for ``fn`` to end (failing the test after ``timeout`` seconds); what it raised,
        None when it returned."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"still running after {timeout:g} s"
        return self._error


@pytest.fixture(scope="session", name="in_background")
def _in_background_fixture() -> Callable[[Callable[[], object]], Background]:
    """``in_background(fn)`` starts ``fn`` on a thread; ``.error()`` waits for it."""
    return Background


@pytest.fixture(scope="session", name="connect_for_tests")
def _connect_for_tests_fixture() -> Callable[..., object]:
    return connect_for_tests


@pytest.fixture(name="assert_matches_datafusion")
def _assert_matches_datafusion_fixture() -> Callable[..., pa.Table]:
    return assert_matches_datafusion


@pytest.fixture(name="assert_translation_raises")
def _assert_translation_raises_fixture() -> Callable[[str, Tables, str], None]:
    return assert_translation_raises


@pytest.fixture
def sample_session(sample_tables: dict[str, str]) -> Iterator[object]:
    """A fresh test session with the sample tables registered."""
    s = connect_for_tests(tables=sample_tables)
    yield s
    s.close()  # type: ignore[attr-defined]
