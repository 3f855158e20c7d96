"""The shuffle store's device tier (gpu_exec.executor.shuffle_store) on the CPU, with a stand-in "gpu"
backend: pieces move device → host → disk in age order past tiny budgets, come back equal on the
backend that asks, bytes are accounted per tier, and dropping a job frees every tier. Plus the
parts of the packed wire format (gpu_exec.cudf.wire) that run without a GPU: the Dask "cuda"
serializer's frames and the rule choosing the pack path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from fallback_cpu.kernels import ArrowKernels
from gpu_exec.executor.shuffle_store import DevicePiece, ShuffleStore, decode_ipc

SCHEMA = pa.schema([("x", pa.int64()), ("s", pa.string())])


class StandInGpuKernels(ArrowKernels):
    """The CPU kernels under the name "gpu", counting the host ↔ "device" transfers."""

    name = "gpu"

    def __init__(self) -> None:
        super().__init__()
        self.downloads = 0
        self.uploads = 0

    def to_arrow(self, table: pa.Table, schema: pa.Schema) -> pa.Table:
        self.downloads += 1
        return super().to_arrow(table, schema)

    def from_arrow(self, table: pa.Table) -> pa.Table:
        self.uploads += 1
        return super().from_arrow(table)


def _table(n: int, start: int = 0) -> pa.Table:
    return pa.table({"x": pa.array(range(start, start + n), pa.int64()),
                     "s": pa.array([f"v{i:05}" for i in range(start, start + n)])}, schema=SCHEMA)


def _key(i: int, job: str = "j") -> tuple[str, int, int, int, int]:
    return (job, 1, i, 1, 0)


SIZE = _table(1000).nbytes  # every piece below is this big, on the "device" and on the host


def test_a_device_piece_stays_on_the_device_and_is_read_without_a_copy(tmp_path: Path) -> None:
    gpu, cpu = StandInGpuKernels(), ArrowKernels()
    store = ShuffleStore(tmp_path, memory_limit=1 << 30, device_memory_limit=1 << 30)
    table = _table(1000)
    assert store.put(_key(0), table, gpu, SCHEMA) == SIZE
    assert store.tier(_key(0)) == "device" and _key(0) in store
    assert store.get(_key(0), gpu) is table  # its own backend: the stored table itself
    assert gpu.downloads == 0
    assert store.get(_key(0), cpu).equals(table) and gpu.downloads == 1  # elsewhere: via Arrow
    assert store.get(_key(0)).equals(table)  # no kernels: an Arrow table
    stats = store.stats()
    assert (stats.pieces, stats.device_bytes, stats.memory_bytes, stats.disk_bytes) == (1, SIZE, 0, 0)
    assert stats.local_bytes == 3 * SIZE


def test_pieces_move_device_to_host_to_disk_oldest_first(tmp_path: Path) -> None:
    gpu = StandInGpuKernels()
    store = ShuffleStore(tmp_path, memory_limit=int(SIZE * 2.5), device_memory_limit=int(SIZE * 2.5))
    tiers = []
    for i in range(6):
        store.put(_key(i), _table(1000, start=i * 1000), gpu, SCHEMA)
        tiers.append([store.tier(_key(j)) for j in range(i + 1)])
    assert tiers[2] == ["host", "device", "device"]  # the third put overflows the device budget
    assert tiers[4] == ["disk", "host", "host", "device", "device"]
    assert tiers[5] == ["disk", "disk", "host", "host", "device", "device"]
    assert gpu.downloads == 4  # one device → host copy per spilled piece, none for disk
    stats = store.stats()
    assert (stats.pieces, stats.device_spilled_pieces, stats.spilled_pieces) == (6, 4, 2)
    assert stats.device_bytes == 2 * SIZE <= store.device_memory_limit
    assert stats.memory_bytes == 2 * SIZE <= store.memory_limit
    assert stats.disk_bytes == sum(p.stat().st_size for p in (tmp_path / "j").iterdir()) > 0
    assert len(list((tmp_path / "j").iterdir())) == 2

    for i in range(6):  # from every tier, the same rows, on the backend that asks
        expected = _table(1000, start=i * 1000)
        uploads = gpu.uploads
        assert store.get(_key(i), gpu).equals(expected)
        assert gpu.uploads == uploads + (store.tier(_key(i)) != "device")  # spilled: from_arrow
        assert store.get(_key(i), ArrowKernels()).equals(expected)
        assert decode_ipc(store.get_ipc(_key(i))).equals(expected)  # what a peer receives


def test_a_zero_device_budget_sends_pieces_straight_to_the_host(tmp_path: Path) -> None:
    store = ShuffleStore(tmp_path, memory_limit=1 << 30, device_memory_limit=0)
    store.put(_key(0), _table(10), StandInGpuKernels(), SCHEMA)
    assert store.tier(_key(0)) == "host"
    assert store.stats().device_bytes == 0 and store.stats().memory_bytes == _table(10).nbytes


def test_cpu_pieces_skip_the_device_tier(tmp_path: Path) -> None:
    store = ShuffleStore(tmp_path, memory_limit=1 << 30, device_memory_limit=1 << 30)
    renamed = _table(10).rename_columns(["a", "b"])
    store.put(_key(0), renamed, ArrowKernels(), SCHEMA)  # stored as ``schema``, like to_arrow
    assert store.tier(_key(0)) == "host" and store.get_device(_key(0)) is None
    assert store.get(_key(0)).equals(_table(10))
    with pytest.raises(KeyError):
        store.get_device(_key(1))


def test_get_device_hands_out_device_pieces_for_the_pack_path(tmp_path: Path) -> None:
    gpu = StandInGpuKernels()
    store = ShuffleStore(tmp_path, memory_limit=1 << 30, device_memory_limit=1 << 30)
    store.put(_key(0), _table(10), gpu, SCHEMA)
    piece = store.get_device(_key(0))
    assert isinstance(piece, DevicePiece) and piece.kernels is gpu and piece.schema == SCHEMA
    assert piece.nbytes == _table(10).nbytes and store.stats().served_bytes == 0
    with pytest.raises(ValueError, match="schema"):
        store.put(_key(1), _table(10), gpu)


def test_drop_job_frees_every_tier(tmp_path: Path) -> None:
    gpu = StandInGpuKernels()
    store = ShuffleStore(tmp_path, memory_limit=int(SIZE * 1.5), device_memory_limit=int(SIZE * 1.5))
    for i in range(3):
        store.put(_key(i, "a"), _table(1000), gpu, SCHEMA)
        store.put(_key(i, "b"), _table(1000), gpu, SCHEMA)
    assert {store.tier(_key(i, "a")) for i in range(3)} | {store.tier(_key(i, "b")) for i in range(3)} \
        == {"device", "host", "disk"}
    assert store.drop_job("a") + store.drop_job("b") == 6
    stats = store.stats()
    assert (stats.pieces, stats.device_bytes, stats.memory_bytes, stats.disk_bytes) == (0, 0, 0, 0)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    store.put(_key(9, "a"), _table(10), gpu, SCHEMA)  # a straggler of a dropped job
    assert store.job_ids() == set()


def test_the_service_serves_a_non_cudf_device_piece_as_arrow_ipc(tmp_path: Path) -> None:
    from gpu_exec.executor.shuffle_service import ShuffleService

    store = ShuffleStore(tmp_path, memory_limit=1 << 30, device_memory_limit=1 << 30)
    store.put(_key(0), _table(10), StandInGpuKernels(), SCHEMA)
    sent: Any = ShuffleService._encode_piece(store, _key(0), packed=True)
    assert decode_ipc(memoryview(sent.data)).equals(_table(10))
    assert store.stats().served_bytes == memoryview(sent.data).nbytes  # counted once


# ---- the packed wire format ------------------------------------------------------------------------


def test_packed_tables_use_dask_cuda_serialization() -> None:
    from distributed.protocol import deserialize, serialize

    from gpu_exec.cudf.wire import PackedTable

    schema = pa.schema([("d", pa.decimal128(12, 2)), ("t", pa.timestamp("us", "UTC"))])
    # Host buffers stand in for the device buffer: the frames and the round trip are the same.
    packed = PackedTable(memoryview(b"packed-metadata"), memoryview(b"device-bytes"), schema)
    header, frames = serialize(packed, serializers=("cuda",), on_error="raise")
    assert header["serializer"] == "cuda" and len(frames) == 3
    assert frames[2] is packed.gpu_data  # the device frame goes out as it is (UCX: GPU to GPU)
    back = deserialize(header, frames)
    assert isinstance(back, PackedTable) and back.schema == schema
    assert bytes(back.metadata) == b"packed-metadata" and bytes(back.gpu_data) == b"device-bytes"
    assert back.nbytes == len(b"packed-metadata") + len(b"device-bytes")


@pytest.mark.parametrize(("name", "cudf", "local", "peer", "packed"), [
    ("gpu", True, "ucx://10.0.0.1:1", "ucx://10.0.0.2:1", True),
    ("gpu", True, "ucxx://10.0.0.1:1", "ucxx://10.0.0.2:1", True),
    ("gpu", True, "tcp://10.0.0.1:1", "tcp://10.0.0.2:1", False),  # TCP: Arrow IPC
    ("gpu", True, "ucx://10.0.0.1:1", "tcp://10.0.0.2:1", False),
    ("gpu", True, None, "ucx://10.0.0.2:1", False),  # the client
    ("gpu", False, "ucx://10.0.0.1:1", "ucx://10.0.0.2:1", False),  # not the cuDF backend
    ("cpu", False, "ucx://10.0.0.1:1", "ucx://10.0.0.2:1", False),
])
def test_the_pack_path_rule(name: str, cudf: bool, local: str | None, peer: str, packed: bool) -> None:
    from gpu_exec.cudf.wire import use_pack_path

    assert use_pack_path(name, cudf, local, peer) is packed


def test_a_stand_in_gpu_reducer_never_asks_for_packed_pieces() -> None:
    from gpu_exec.executor.shuffle_fetch import _wants_packed

    assert not _wants_packed(StandInGpuKernels(), "ucx://a:1", "ucx://b:1")
    assert not _wants_packed(ArrowKernels(), "ucx://a:1", "ucx://b:1")
    assert not _wants_packed(None, "ucx://a:1", "ucx://b:1")
