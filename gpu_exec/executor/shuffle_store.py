"""The per-worker shuffle store: map outputs kept outside Dask's memory, in three tiers.

A map task puts each piece of its output here (one piece per reducer partition); reducers on the
same worker read it directly, reducers elsewhere through the fetch handler of
``gpu_exec.executor.shuffle_service``. Tiers, each spilling its oldest pieces to the next past its budget:

- device: a piece as the backend table the task produced (a device table on a GPU executor), kept
  while the device pieces total at most ``device_memory_limit`` bytes; spilled to the host with
  the owning backend's ``Kernels.to_arrow``. Pieces of the CPU backend skip this tier.
- host: Arrow tables, at most ``memory_limit`` bytes;
- disk: Arrow IPC stream files under ``directory``, memory-mapped back when read, so a spilled
  piece is sent to a peer as the file's bytes, never re-encoded.

A piece may arrive in several chunks (``append``: a task streams its output batch by batch, each
batch's share of a reducer appended to that reducer's piece); each chunk is an entry of its own in
the tiers (spilled on its own), and a read returns the piece whole: its chunks in order.

The tier logic only goes through the Kernels protocol (``to_arrow`` / ``from_arrow`` / ``name``)
plus ``table_nbytes``, so it is exercised on the CPU with a stand-in "gpu" backend. Reads return a
piece on the backend that asks for it: the stored table itself when it is already there, else
through Arrow (``from_arrow``).

Counters record every byte that leaves or enters the worker through the shuffle, so tests and
benchmarks can show that shuffle data goes worker to worker.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from gpu_exec.engine.kernels import Kernels, Table

__all__ = ["PieceKey", "ChunkKey", "ShuffleStore", "ShuffleStats", "DevicePiece", "encode_ipc", "decode_ipc", "table_nbytes"]

_READ_OPTIONS = pa.ipc.IpcReadOptions(ensure_alignment=pa.ipc.Alignment.DataTypeSpecific) \
    if hasattr(pa.ipc, "Alignment") else pa.ipc.IpcReadOptions()

_DROPPED_JOBS_KEPT = 1000

PieceKey = tuple[str, int, int, int, int]
"""(job id, stage id, map partition, attempt, piece): one reducer's share of one map task's output."""

ChunkKey = tuple[str, int, int, int, int, int]
"""A piece's key and the chunk's number in it: one entry of a tier."""


def table_nbytes(table: Table) -> int:
    """Bytes ``table`` holds in its backend's memory: Arrow's count for a host table, the sum of
    the columns' device buffers for a cuDF table (no addition to the Kernels protocol needed)."""
    if isinstance(table, pa.Table):
        return int(table.nbytes)
    from gpu_exec.cudf.wire import device_nbytes  # only a GPU executor holds other tables

    return device_nbytes(table)


def encode_ipc(table: pa.Table) -> pa.Buffer:
    """``table`` as one Arrow IPC stream buffer (what goes on the wire)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def decode_ipc(buffer: object) -> pa.Table:
    """The table of an Arrow IPC stream, zero copy over ``buffer`` except for columns that are not
    aligned for their type (a buffer received in a Dask frame may start anywhere; Acero and the
    compute kernels want aligned data)."""
    source = buffer if isinstance(buffer, pa.Buffer) else pa.py_buffer(buffer)
    return pa.ipc.open_stream(source, options=_READ_OPTIONS).read_all()


@dataclass(frozen=True, slots=True)
class DevicePiece:
    """A piece in the device tier: the backend table, the backend that owns it (to bring it to the
    host when it spills or is read elsewhere), its Arrow schema and its size in device bytes."""

    table: Table
    kernels: Kernels
    schema: pa.Schema
    nbytes: int

    def to_arrow(self) -> pa.Table:
        return self.kernels.to_arrow(self.table, self.schema)


@dataclass(frozen=True, slots=True)
class ShuffleStats:
    """A snapshot of one worker's store and its traffic counters (bytes are backend sizes on the
    device, Arrow sizes in host memory, IPC sizes on disk and on the wire)."""

    pieces: int
    memory_bytes: int  # host tier
    disk_bytes: int
    spilled_pieces: int  # pieces written to disk so far (cumulative)
    served_bytes: int  # sent to reducers on other workers
    fetched_bytes: int  # received from other workers
    local_bytes: int  # read by reducers on this worker
    device_bytes: int = 0  # device tier
    device_spilled_pieces: int = 0  # pieces moved device → host so far (cumulative)


class ShuffleStore:
    """Map output pieces of the jobs running on one worker. Thread safe: tasks put and read from
    worker threads while the fetch handler serves peers from the event loop.

    Spilling runs under the store's lock (a device → host copy included): simple, and a put that
    overflows a budget must not return before the budget holds again, or a burst of puts could
    overrun device memory."""

    def __init__(self, directory: str | os.PathLike[str], memory_limit: int,
                 device_memory_limit: int = 0) -> None:
        self.directory = Path(directory)
        self.memory_limit = memory_limit
        self.device_memory_limit = device_memory_limit
        self._lock = threading.Lock()
        # Each tier is ordered oldest first: the oldest piece is spilled first.
        self._device: OrderedDict[ChunkKey, DevicePiece] = OrderedDict()
        self._memory: OrderedDict[ChunkKey, pa.Table] = OrderedDict()
        self._disk: dict[ChunkKey, tuple[Path, int]] = {}
        self._chunks: dict[PieceKey, int] = {}  # chunks per piece, in the order they came
        self._device_bytes = 0
        self._memory_bytes = 0
        # Jobs already dropped: a task of a cancelled job may still finish after the drop, and
        # its output must not linger (bounded: only recent jobs can have stragglers).
        self._dropped: OrderedDict[str, None] = OrderedDict()
        self._spilled = 0
        self._device_spilled = 0
        self._served = 0
        self._fetched = 0
        self._local = 0

    # ---- writing ----------------------------------------------------------------------------
    def put(self, key: PieceKey, table: Table, kernels: Kernels | None = None,
            schema: pa.Schema | None = None) -> int:
        """Keep ``table`` under ``key`` (replacing what was there); returns its size in bytes (in
        the tier it enters).

        ``kernels`` is the backend that made ``table`` and ``schema`` its Arrow schema: a table of a
        device backend (any name but "cpu") enters the device tier as it is; a CPU table — or an
        Arrow table with no ``kernels`` — enters the host tier (as ``schema`` when given). Spills
        the oldest pieces of each tier past its budget. The pieces of a job already dropped are not
        kept."""
        return self._add(key, table, kernels, schema, replace=True)

    def append(self, key: PieceKey, table: Table, kernels: Kernels | None = None,
               schema: pa.Schema | None = None) -> int:
        """Add ``table`` to the piece ``key`` as its next chunk (as ``put`` otherwise; a first
        append makes the piece); returns the chunk's size in bytes."""
        return self._add(key, table, kernels, schema, replace=False)

    def _add(self, key: PieceKey, table: Table, kernels: Kernels | None, schema: pa.Schema | None,
             *, replace: bool) -> int:
        if kernels is not None and kernels.name != "cpu":
            if schema is None:
                raise ValueError("a device piece needs its Arrow schema (to spill it to the host)")
            piece = DevicePiece(table, kernels, schema, table_nbytes(table))
            with self._lock:
                if key[0] in self._dropped:
                    return piece.nbytes
                chunk = self._next_chunk(key, replace)
                self._device[chunk] = piece
                self._device_bytes += piece.nbytes
                self._enforce_budgets()
            return piece.nbytes
        host = kernels.to_arrow(table, schema) if kernels is not None and schema is not None else table
        size = int(host.nbytes)
        with self._lock:
            if key[0] in self._dropped:
                return size
            chunk = self._next_chunk(key, replace)
            self._memory[chunk] = host
            self._memory_bytes += size
            self._enforce_budgets()
        return size

    def _next_chunk(self, key: PieceKey, replace: bool) -> ChunkKey:
        if replace:
            self._discard(key)
        n = self._chunks.get(key, 0)
        self._chunks[key] = n + 1
        return (*key, n)

    def _enforce_budgets(self) -> None:
        # Device first: what it spills lands on the host and may push the host over its budget.
        while self._device_bytes > self.device_memory_limit and self._device:
            key, piece = self._device.popitem(last=False)
            self._device_bytes -= piece.nbytes
            host = piece.to_arrow()
            self._memory[key] = host  # newest on the host: it was put after every host piece
            self._memory_bytes += host.nbytes
            self._device_spilled += 1
        while self._memory_bytes > self.memory_limit and self._memory:
            self._spill_oldest()

    def _spill_oldest(self) -> None:
        key, table = self._memory.popitem(last=False)
        self._memory_bytes -= table.nbytes
        path = self.directory / key[0] / "-".join(map(str, key[1:]))
        path.parent.mkdir(parents=True, exist_ok=True)
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        self._disk[key] = (path, path.stat().st_size)
        self._spilled += 1

    def _discard(self, key: PieceKey) -> None:
        for chunk in self._chunk_keys(key):
            piece = self._device.pop(chunk, None)
            if piece is not None:
                self._device_bytes -= piece.nbytes
            table = self._memory.pop(chunk, None)
            if table is not None:
                self._memory_bytes -= table.nbytes
            spilled = self._disk.pop(chunk, None)
            if spilled is not None:
                spilled[0].unlink(missing_ok=True)
        self._chunks.pop(key, None)

    def _chunk_keys(self, key: PieceKey) -> list[ChunkKey]:
        return [(*key, i) for i in range(self._chunks.get(key, 0))]

    # ---- reading ----------------------------------------------------------------------------
    def __contains__(self, key: PieceKey) -> bool:
        with self._lock:
            return key in self._chunks

    def tier(self, key: PieceKey) -> str | None:
        """"device", "host" or "disk": where the piece is now (a piece of several chunks: the
        farthest tier one of them reached); None: not here."""
        with self._lock:
            tiers = {"device" if c in self._device else "host" if c in self._memory else "disk"
                     for c in self._chunk_keys(key)}
        for name in ("disk", "host", "device"):
            if name in tiers:
                return name
        return None

    def _lookup(self, key: PieceKey) -> list[DevicePiece | pa.Table | Path]:
        # Under the lock. The objects it returns stay valid after a concurrent spill or drop
        # (tables are immutable; a dropped job's files go, but its reducers are gone too).
        if key not in self._chunks:
            raise KeyError(key)
        found: list[DevicePiece | pa.Table | Path] = []
        for chunk in self._chunk_keys(key):
            piece = self._device.get(chunk)
            if piece is not None:
                found.append(piece)
                continue
            table = self._memory.get(chunk)
            found.append(table if table is not None else self._disk[chunk][0])
        return found

    @staticmethod
    def _arrow(found: DevicePiece | pa.Table | Path) -> pa.Table:
        if isinstance(found, DevicePiece):
            return found.to_arrow()
        return found if isinstance(found, pa.Table) else decode_ipc(pa.memory_map(str(found)).read_buffer())

    def get(self, key: PieceKey, kernels: Kernels | None = None) -> Table:
        """The piece for a reducer on this worker, on ``kernels``' backend (None: an Arrow table).
        A device piece read by its own backend is returned as it is, with no copy. KeyError when
        it is not here."""
        with self._lock:
            chunks = self._lookup(key)
        tables: list[Table] = []
        nbytes = 0
        for found in chunks:
            if isinstance(found, DevicePiece) and kernels is not None and kernels.name == found.kernels.name:
                tables.append(found.table)
                nbytes += found.nbytes
            else:
                arrow = self._arrow(found)
                tables.append(arrow if kernels is None else kernels.from_arrow(arrow))
                nbytes += int(arrow.nbytes)
        with self._lock:
            self._local += nbytes
        if len(tables) == 1:
            return tables[0]
        if kernels is None:
            return pa.concat_tables(tables)
        schema = chunks[0].schema if isinstance(chunks[0], DevicePiece) else self._arrow(chunks[0]).schema
        return kernels.concat(tables, schema)

    def get_device(self, key: PieceKey) -> DevicePiece | None:
        """The piece when it is in the device tier (the fetch handler packs it for a GPU peer),
        else None (also when some of its chunks left the device). KeyError when it is not here at
        all. Not counted as served: the caller reports what it sends (``count_served``)."""
        with self._lock:
            chunks = self._lookup(key)
        if not all(isinstance(c, DevicePiece) for c in chunks):
            return None
        pieces = [c for c in chunks if isinstance(c, DevicePiece)]
        if len(pieces) == 1:
            return pieces[0]
        first = pieces[0]
        table = first.kernels.concat([p.table for p in pieces], first.schema)
        return DevicePiece(table, first.kernels, first.schema, table_nbytes(table))

    def get_ipc(self, key: PieceKey) -> pa.Buffer:
        """The piece as an Arrow IPC stream, for a reducer on another worker. KeyError when it is
        not here. A spilled piece of one chunk is the file's own bytes."""
        with self._lock:
            chunks = self._lookup(key)
        if len(chunks) == 1 and isinstance(chunks[0], Path):
            buffer = pa.memory_map(str(chunks[0])).read_buffer()
        elif len(chunks) == 1:
            buffer = encode_ipc(self._arrow(chunks[0]))
        else:
            buffer = encode_ipc(pa.concat_tables([self._arrow(c) for c in chunks]))
        with self._lock:
            self._served += buffer.size
        return buffer

    def count_served(self, nbytes: int) -> None:
        """Record ``nbytes`` sent to another worker other than through ``get_ipc``."""
        with self._lock:
            self._served += nbytes

    def count_fetched(self, nbytes: int) -> None:
        """Record ``nbytes`` received from another worker's store."""
        with self._lock:
            self._fetched += nbytes

    # ---- cleanup ----------------------------------------------------------------------------
    def _keys(self) -> list[PieceKey]:
        return list(self._chunks)

    def drop_job(self, job_id: str) -> int:
        """Forget every piece of ``job_id`` (every tier); returns how many there were."""
        with self._lock:
            keys = [k for k in self._keys() if k[0] == job_id]
            for key in keys:
                self._discard(key)
            self._dropped[job_id] = None
            while len(self._dropped) > _DROPPED_JOBS_KEPT:
                self._dropped.popitem(last=False)
        shutil.rmtree(self.directory / job_id, ignore_errors=True)
        return len(keys)

    def job_ids(self) -> set[str]:
        with self._lock:
            return {k[0] for k in self._keys()}

    def is_dropped(self, job_id: str) -> bool:
        """Whether ``job_id`` was dropped (it ended, failed or was cancelled) recently."""
        with self._lock:
            return job_id in self._dropped

    def stats(self) -> ShuffleStats:
        with self._lock:
            return ShuffleStats(
                pieces=len(self._chunks),
                memory_bytes=self._memory_bytes,
                disk_bytes=sum(size for _, size in self._disk.values()),
                spilled_pieces=self._spilled,
                served_bytes=self._served,
                fetched_bytes=self._fetched,
                local_bytes=self._local,
                device_bytes=self._device_bytes,
                device_spilled_pieces=self._device_spilled,
            )

    def close(self) -> None:
        """Drop everything, including the spill directory."""
        with self._lock:
            self._device.clear()
            self._memory.clear()
            self._disk.clear()
            self._chunks.clear()
            self._device_bytes = 0
            self._memory_bytes = 0
        shutil.rmtree(self.directory, ignore_errors=True)
