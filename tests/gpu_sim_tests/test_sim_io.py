"""The simulated pylibcudf.io (Parquet), contiguous_split (pack/unpack) and the cupy stand-in:
libcudf's read types and column order, writer metadata, one device allocation per packed table,
release-once, and cupy views of simulated device memory."""

from __future__ import annotations

import datetime
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "gpu_sim"))

import cupy as cp  # noqa: E402
import pylibcudf as plc  # noqa: E402
import rmm  # noqa: E402

T, D = plc.TypeId, plc.DataType


@pytest.fixture
def parquet_file(tmp_path: Path) -> str:
    table = pa.table({
        "d9": pa.array([Decimal("1.25"), None, Decimal("-3.50")], pa.decimal128(9, 2)),
        "d20": pa.array([Decimal("1.5"), Decimal("2.5"), None], pa.decimal128(20, 1)),
        "day": pa.array([datetime.date(2024, 1, 1), None, datetime.date(1999, 12, 31)]),
        "s": pa.array(["a", None, "ccc"], pa.large_string()),
        "ts": pa.array([1, 2, 3], pa.timestamp("ms", tz="UTC")),
    })
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=2)
    return str(path)


def read(path: str, names: list[str], width: plc.TypeId | None = None, groups: list[int] | None = None):
    builder = plc.io.parquet.ParquetReaderOptions.builder(plc.io.SourceInfo([path])).use_pandas_metadata(False)
    if width is not None:
        builder = builder.decimal_width(width)
    options = builder.build()
    options.set_column_names(names)
    if groups is not None:
        options.set_row_groups([groups])
    return plc.io.parquet.read_parquet(options)


def test_parquet_types_are_libcudf_types(parquet_file: str) -> None:
    got = read(parquet_file, ["d9", "d20", "day", "s", "ts"])
    types = [c.type() for c in got.tbl.columns()]
    assert types == [D(T.DECIMAL32, -2), D(T.DECIMAL128, -1), D(T.TIMESTAMP_DAYS), D(T.STRING),
                     D(T.TIMESTAMP_MILLISECONDS)]
    wide = read(parquet_file, ["d9"], width=T.DECIMAL128)
    assert wide.tbl.columns()[0].type() == D(T.DECIMAL128, -2)
    assert wide.tbl.columns()[0].to_arrow().to_pylist() == [Decimal("1.25"), None, Decimal("-3.50")]


def test_parquet_columns_come_in_the_asked_order_and_missing_ones_are_skipped(parquet_file: str) -> None:
    got = read(parquet_file, ["s", "nope", "day", "s"])
    assert got.column_names() == ["s", "day"]
    assert got.tbl.columns()[0].to_arrow().to_pylist() == ["a", None, "ccc"]


def test_parquet_row_groups(parquet_file: str) -> None:
    assert read(parquet_file, ["s"], groups=[1]).tbl.num_rows() == 1
    with pytest.raises(IndexError):
        read(parquet_file, ["s"], groups=[2])
    footer = plc.io.parquet_metadata.read_parquet_footers(plc.io.SourceInfo([parquet_file]))[0]
    assert footer.row_group_num_rows == [2, 1] and footer.num_rows == 3
    with pytest.raises(FileNotFoundError):
        plc.io.SourceInfo(["/no/such/file.parquet"])


def test_parquet_writer_takes_names_nullability_and_precision(tmp_path: Path) -> None:
    table = plc.Table([plc.Column.from_arrow(pa.array([Decimal("1.25")], pa.decimal128(5, 2))),
                       plc.Column.from_arrow(pa.array(["x"]))])
    metadata = plc.io.types.TableInputMetadata(table)
    metadata.column_metadata[0].set_name("price").set_nullability(True).set_decimal_precision(5)
    metadata.column_metadata[1].set_name("name").set_nullability(False)
    path = str(tmp_path / "out.parquet")
    options = (plc.io.parquet.ParquetWriterOptions.builder(plc.io.SinkInfo([path]), table).metadata(metadata)
               .compression(plc.io.types.CompressionType.ZSTD).write_arrow_schema(True).build())
    plc.io.parquet.write_parquet(options)
    schema = pq.read_schema(path)
    assert schema.field("price").type == pa.decimal128(5, 2) and schema.field("price").nullable
    assert schema.field("name").type == pa.string() and not schema.field("name").nullable


def test_pack_is_one_device_allocation_released_once() -> None:
    col = plc.Column.from_arrow(pa.array(["a", None, "ccc", "dd"]))
    ints = plc.Column.from_arrow(pa.array([1, 2, None, 4], pa.int64()))
    sliced = plc.copying.slice(plc.Table([col, ints]), [1, 4])[0]
    stats = rmm.mr.StatisticsResourceAdaptor(rmm.mr.get_current_device_resource())
    previous = rmm.mr.get_current_device_resource()
    rmm.mr.set_current_device_resource(stats)
    try:
        packed = plc.contiguous_split.pack(sliced)
    finally:
        rmm.mr.set_current_device_resource(previous)
    metadata, gpu_data = packed.release()
    assert stats.allocation_counts.total_count == 1
    with pytest.raises(ValueError):
        packed.release()
    table = plc.contiguous_split.unpack_from_memoryviews(metadata, gpu_data)
    assert [c.to_arrow().to_pylist() for c in table.columns()] == [[None, "ccc", "dd"], [2, None, 4]]
    assert table.columns()[1].data().ptr >= gpu_data.ptr  # views into the one buffer
    # through the host, as Dask's "dask" serializer sends it
    host = rmm.DeviceBuffer(ptr=gpu_data.ptr, size=gpu_data.nbytes).copy_to_host()
    again = plc.contiguous_split.unpack_from_memoryviews(
        memoryview(bytes(metadata)), plc.gpumemoryview(rmm.DeviceBuffer.to_device(memoryview(host))))
    assert again.columns()[0].to_arrow().to_pylist() == [None, "ccc", "dd"]


def test_pack_of_a_table_without_columns() -> None:
    metadata, gpu_data = plc.contiguous_split.pack(plc.Table([])).release()
    assert metadata.nbytes == 0
    assert plc.contiguous_split.unpack_from_memoryviews(metadata, gpu_data).num_columns() == 0


def test_cupy_views_simulated_device_memory() -> None:
    col = plc.Column.from_arrow(pa.array([5, 6, 7], pa.int32()))
    data = col.data()
    memory = cp.cuda.UnownedMemory(data.ptr, data.size, data)
    raw = cp.ndarray((data.size,), dtype=cp.uint8, memptr=cp.cuda.MemoryPointer(memory, 0))
    view = raw.view(cp.int32)[1:]
    assert isinstance(view, cp.ndarray) and view.get().tolist() == [6, 7]
    doubled = (view * cp.int32(2)).astype(cp.int32)
    back = plc.Column.from_cuda_array_interface(doubled)
    assert back.type() == D(T.INT32) and back.to_arrow().to_pylist() == [12, 14]
    with pytest.raises(TypeError):
        view + np.arange(2, dtype=np.int32)  # a host array mixed in, as cupy refuses
    with pytest.raises(RuntimeError):
        cp.cuda.UnownedMemory(12345, 8, None)  # not simulated device memory


def test_a_session_on_the_simulator_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stand-in nvidia-smi (tests/gpu_sim/bin) names a simulated GPU and the simulator's
    pylibcudf version says "simulated": gpu-exec's device description carries both."""
    from gpu_exec.engine import device

    monkeypatch.setenv("PATH", f"{Path(__file__).parents[1] / 'gpu_sim' / 'bin'}:{__import__('os').environ['PATH']}")
    monkeypatch.setattr(device.os.path, "isdir", lambda path: False)  # no /proc/driver/nvidia here
    device.gpu_names.cache_clear()
    try:
        described = device.gpu_description()
    finally:
        device.gpu_names.cache_clear()
    assert "Simulated GPU" in described and "simulated" in plc.__version__ and plc.__version__ in described
