"""The kernel conformance suite's fixtures: one ``kernels`` fixture per backend present.

Every test here goes through the Kernels protocol only (inputs built with ``from_arrow``, results
read with ``to_arrow``), so the same tests prove the cuDF kernels on a GPU runner. DataFusion is
the oracle: where a kernel mirrors a SQL expression, the test runs that expression in a DataFusion
SessionContext over the same Arrow table and compares values and types.

Helpers are offered as fixtures, never imported (every conftest.py is the module ``conftest``
to pytest, see tests/conftest.py): ``kernels`` (the backend), ``io`` (data in and out through the
protocol), ``oracle`` (DataFusion) and ``values_match`` (equality with a float tolerance).

Test files are named ``test_<area>_kernels.py``: tests/ has no ``__init__.py``, so two test files
with the same base name anywhere under tests/ (tests/sql/test_window.py) would collide.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, Sequence

import pyarrow as pa
import pytest

__all__ = ["BackendIO", "DataFusionOracle", "plain_type", "same_values"]


def _gpu_kernels() -> Any:
    """The cuDF kernels, or a pytest.skip when this machine can't run them."""
    from gpu_exec.engine.device import visible_gpu_count

    if visible_gpu_count() == 0:
        pytest.skip("no GPU on this machine")
    try:
        from gpu_exec.cudf.kernels import CudfKernels  # type: ignore[import-not-found]
    except ImportError as exc:
        pytest.skip(f"the cuDF kernels can't be imported: {exc}")
    return CudfKernels()


@pytest.fixture(params=["cpu", "gpu"])
def kernels(request: pytest.FixtureRequest) -> Any:
    """Each backend's Kernels: "cpu" always, "gpu" when a GPU and the cuDF kernels are here."""
    if request.param == "gpu":
        return _gpu_kernels()
    from fallback_cpu.kernels import ArrowKernels

    return ArrowKernels()


def plain_type(t: pa.DataType) -> pa.DataType:
    """The type gpu-exec computes with for a DataFusion result type: one string type."""
    if pa.types.is_string_view(t) or pa.types.is_large_string(t):
        return pa.string()
    return t


def _close(a: Any, b: Any, rel: float) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or math.isclose(a, b, rel_tol=rel, abs_tol=rel)
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return a == b and a.as_tuple().exponent == b.as_tuple().exponent
    return (a is None and b is None) or (type(a) is type(b) and a == b)


def same_values(actual: Sequence[Any], expected: Sequence[Any], rel: float = 1e-12) -> bool:
    """Element-wise equality; floats to ``rel`` (relative and absolute), NaN equals NaN, decimals
    to the digit (scale included); rows (tuples) compared element-wise."""
    if len(actual) != len(expected):
        return False
    for a, b in zip(actual, expected):
        if isinstance(a, tuple) and isinstance(b, tuple):
            if not same_values(a, b, rel):
                return False
        elif not _close(a, b, rel):
            return False
    return True


@pytest.fixture(name="values_match", scope="session")
def _values_match() -> Any:
    """``values_match(actual, expected, rel=1e-12)``: see ``same_values``."""
    return same_values


class BackendIO:
    """Moves data into and out of one backend through the protocol only."""

    def __init__(self, kernels: Any) -> None:
        self.k = kernels

    def table(self, table: pa.Table) -> Any:
        return self.k.from_arrow(table)

    def column(self, values: Sequence[Any] | pa.Array, type: pa.DataType | None = None) -> Any:
        arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values, type=type)
        return self.k.column(self.k.from_arrow(pa.table({"c": arr})), 0)

    def arrow(self, column: Any, type: pa.DataType) -> pa.Array:
        """A backend column as an Arrow array, checking it has exactly ``type``."""
        schema = pa.schema([pa.field("c", type)])
        # make_table's num_rows only matters for zero columns (protocol), so 0 is fine here.
        t = self.k.to_arrow(self.k.make_table([column], schema, 0), schema)
        assert t.schema.field(0).type == type, f"column type {t.schema.field(0).type}, expected {type}"
        return t.column(0).combine_chunks()

    def values(self, column: Any, type: pa.DataType) -> list[Any]:
        return self.arrow(column, type).to_pylist()

    def rows(self, table: Any, schema: pa.Schema) -> list[tuple[Any, ...]]:
        t = self.k.to_arrow(table, schema)
        assert t.schema == schema, f"table schema\n{t.schema}\nexpected\n{schema}"
        if not t.num_columns:
            return [()] * t.num_rows
        return list(zip(*(c.to_pylist() for c in t.columns)))


@pytest.fixture
def io(kernels: Any) -> BackendIO:
    return BackendIO(kernels)


class DataFusionOracle:
    """Runs SQL on DataFusion 55 over Arrow tables: the answer every kernel must give."""

    def query(self, sql: str, **tables: pa.Table) -> pa.Table:
        import datafusion

        ctx = datafusion.SessionContext()
        for name, table in tables.items():
            empty = pa.RecordBatch.from_arrays(
                [pa.array([], f.type) for f in table.schema], schema=table.schema
            )
            ctx.register_record_batches(name, [table.to_batches() or [empty]])
        result = ctx.sql(sql).to_arrow_table()
        # One string type, as gpu-exec's IR (DataFusion answers Utf8View for some expressions).
        fields = [pa.field(f.name, plain_type(f.type)) for f in result.schema]
        return result.cast(pa.schema(fields))

    def eval(self, expr: str, table: pa.Table) -> tuple[list[Any], pa.DataType]:
        """``SELECT expr FROM t`` over ``table``: the values and DataFusion's result type."""
        result = self.query(f"SELECT {expr} AS r FROM t", t=table)
        return result.column(0).to_pylist(), result.schema.field(0).type


@pytest.fixture(scope="session")
def oracle() -> DataFusionOracle:
    return DataFusionOracle()
