"""The worker-side shuffle store (gpu_exec.executor.shuffle_store), without a cluster: memory, spilling to
Arrow IPC files, the wire encoding, dropping a job."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from gpu_exec.executor.shuffle_store import ShuffleStore, decode_ipc, encode_ipc


def _table(n: int, start: int = 0) -> pa.Table:
    return pa.table({"x": pa.array(range(start, start + n), pa.int64()),
                     "s": pa.array([f"v{i}" for i in range(start, start + n)])})


def test_put_and_get_in_memory(tmp_path: Path) -> None:
    store = ShuffleStore(tmp_path, memory_limit=1 << 30)
    size = store.put(("j", 1, 0, 1, 0), _table(10))
    assert size == _table(10).nbytes
    assert ("j", 1, 0, 1, 0) in store and ("j", 1, 0, 1, 1) not in store
    assert store.get(("j", 1, 0, 1, 0)).equals(_table(10))
    stats = store.stats()
    assert (stats.pieces, stats.memory_bytes, stats.disk_bytes, stats.local_bytes) == (1, size, 0, size)


def test_oldest_pieces_spill_to_disk_past_the_limit(tmp_path: Path) -> None:
    piece = _table(1000).nbytes
    store = ShuffleStore(tmp_path, memory_limit=int(piece * 2.5))
    for i in range(4):
        store.put(("j", 1, i, 1, 0), _table(1000, start=i * 1000))
    stats = store.stats()
    assert stats.pieces == 4 and stats.spilled_pieces == 2
    assert stats.memory_bytes == _table(1000, 2000).nbytes + _table(1000, 3000).nbytes <= store.memory_limit
    assert len(list((tmp_path / "j").iterdir())) == 2
    for i in range(4):  # spilled or not, every piece reads back the same
        assert store.get(("j", 1, i, 1, 0)).equals(_table(1000, start=i * 1000))
        assert decode_ipc(store.get_ipc(("j", 1, i, 1, 0))).equals(_table(1000, start=i * 1000))
    assert store.stats().served_bytes > 0


def test_the_wire_format_is_arrow_ipc_and_reads_back_aligned() -> None:
    table = _table(100)
    buffer = encode_ipc(table)
    assert pa.ipc.open_stream(buffer).read_all().equals(table)
    # A frame may start at any address: decode copies what is misaligned, nothing else.
    shifted = memoryview(b"\0" + buffer.to_pybytes())[1:]
    decoded = decode_ipc(shifted)
    assert decoded.equals(table)
    values = decoded.column("x").chunks[0].buffers()[1]
    assert values.address % 8 == 0  # int64 values


def test_drop_job_forgets_memory_and_disk_and_later_puts(tmp_path: Path) -> None:
    store = ShuffleStore(tmp_path, memory_limit=0)  # everything on disk
    store.put(("a", 1, 0, 1, 0), _table(10))
    store.put(("b", 1, 0, 1, 0), _table(10))
    assert store.job_ids() == {"a", "b"}
    assert store.drop_job("a") == 1
    assert store.job_ids() == {"b"} and not (tmp_path / "a").exists()
    store.put(("a", 2, 0, 1, 0), _table(10))  # a straggling task of the dropped job
    assert store.job_ids() == {"b"}
    store.close()
    assert store.stats().pieces == 0 and not tmp_path.exists()
