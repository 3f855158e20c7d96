"""Spill files: batches a pipeline breaker writes out instead of holding, read back in order.

A breaker over its share of the memory pool writes what it holds to a :class:`SpillFile` (one
Arrow IPC stream file in the query's spill directory), shrinks its reservation by the bytes it
wrote (``Reservation.record_spill`` counts them for the metrics), and reads the batches back when
it needs them, one at a time, memory-mapped. On a GPU a batch goes device → host (``to_arrow``)
→ disk, and comes back host → device (``from_arrow``): the kernels' own conversions, so this
module is the same for both backends.

The spill directory of a query (:class:`SpillDirectory`) is made on first use under the session's
``spill_dir`` (default: the system's temporary directory) and removed, with every file left in it,
when the query ends: a failed or cancelled query leaves nothing behind (a partition thread that
has not stopped yet cannot make another one).
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import threading
from typing import TYPE_CHECKING, Iterator

import pyarrow as pa
import pyarrow.ipc as ipc

from planner.errors import QueryCancelled, ResourceError

if TYPE_CHECKING:
    from gpu_exec.engine.kernels import Kernels, Table

__all__ = ["SpillDirectory", "SpillFile"]


class SpillDirectory:
    """The directory one query's spill files go to, created when the first file is, removed (with
    what is left in it) by ``cleanup``."""

    def __init__(self, base: str | None = None) -> None:
        self._base = base or None
        self._path: str | None = None
        self._lock = threading.Lock()
        self._names = itertools.count()
        self._ended = False

    def new_file(self, kernels: Kernels, schema: pa.Schema, label: str) -> SpillFile:
        """An empty spill file for batches of ``schema`` (``label``: the operator, for its name)."""
        with self._lock:
            if self._ended:
                # A partition thread still running after its query failed or was cancelled: a
                # directory made now would outlive the query.
                raise QueryCancelled("the query ended")
            if self._path is None:
                try:
                    self._path = tempfile.mkdtemp(prefix="gpu-exec-spill-", dir=self._base)
                except OSError as exc:
                    raise ResourceError(
                        f"cannot create a spill directory under {self._base or tempfile.gettempdir()}: {exc}; "
                        "set spill_dir (gpu_exec.connect(spill_dir=...) or GPU_EXEC__SPILL_DIR) to a "
                        "writable directory with room") from exc
            safe = "".join(c if c.isalnum() else "-" for c in label)[:40]
            path = os.path.join(self._path, f"{next(self._names):05d}-{safe}.arrow")
        return SpillFile(path, kernels, schema)

    @property
    def path(self) -> str | None:
        """The directory, once a file was made in it."""
        return self._path

    def cleanup(self) -> None:
        with self._lock:
            path, self._path = self._path, None
            self._ended = True
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)


class SpillFile:
    """Batches appended with ``write``, read back in the same order with ``read`` (any number of
    times); ``close`` deletes the file. ``nbytes``: the in-memory bytes of the batches written
    (what the writer no longer holds), ``rows``: their rows."""

    def __init__(self, path: str, kernels: Kernels, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self.rows = 0
        self.nbytes = 0
        self._kernels = kernels
        self._sink: pa.NativeFile | None = None
        self._writer: ipc.RecordBatchStreamWriter | None = None

    def write(self, table: Table) -> int:
        """Append ``table`` (a kernels table of ``schema``); returns its in-memory bytes."""
        k = self._kernels
        host = k.to_arrow(table, self.schema)
        if self._writer is None:
            try:
                self._sink = pa.OSFile(self.path, "wb")
            except OSError as exc:
                raise ResourceError(f"cannot write the spill file {self.path}: {exc}; set spill_dir to a "
                                    "writable directory with room") from exc
            self._writer = ipc.new_stream(self._sink, self.schema)
        try:
            self._writer.write_table(host)
        except OSError as exc:
            raise ResourceError(f"cannot write the spill file {self.path}: {exc} (is the disk full?); "
                                "set spill_dir to a directory with room") from exc
        size = k.nbytes(table)
        self.rows += host.num_rows
        self.nbytes += size
        return size

    def _finish(self) -> None:
        if self._writer is not None:
            self._writer.close()
            assert self._sink is not None
            self._sink.close()
            self._writer = self._sink = None

    def read(self) -> Iterator[Table]:
        """The batches written, in order, as kernels tables (one in memory at a time)."""
        self._finish()
        if not self.rows and not os.path.exists(self.path):
            return
        with pa.memory_map(self.path) as source:
            reader = ipc.open_stream(source)
            for batch in reader:
                yield self._kernels.from_arrow(pa.Table.from_batches([batch], self.schema))

    def close(self) -> None:
        self._finish()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def __enter__(self) -> SpillFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
