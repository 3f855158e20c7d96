"""Where COPY and CREATE TABLE AS put their files: a staging directory beside the target, renamed
into place once every partition has written its file, removed when the query fails.

The executors write the files (gpu_exec.engine.operators.write); the client only makes, renames and
removes directories — metadata, never data. The target must be on a file system the workers share
with the client, as every table path is. Publishing by rename means readers never see a directory
half written, and a failed or cancelled statement leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid

from gpu_exec.engine.operators.write import part_file_name
from planner.errors import CatalogError

__all__ = ["OutputTarget"]


class OutputTarget:
    """The destination of one write statement.

    Parameters
    ----------
    target
        The directory to fill (one ``part-<n>.<ext>`` per partition), or with ``single_file`` the
        file to write.
    extension
        The files' extension (".parquet", ".csv").
    replace
        Swap out a directory that already has files (CREATE OR REPLACE TABLE) instead of refusing.
    append
        Add the files to a directory that already exists (INSERT INTO), each under a name no
        earlier write used.
    hint
        How to get past a target that already has files, for the error message.
    """

    def __init__(self, target: str, *, extension: str, single_file: bool = False, replace: bool = False,
                 append: bool = False, hint: str = "") -> None:
        self.target = os.path.abspath(os.path.expanduser(target.removeprefix("file://")))
        self.extension = extension
        self.single_file = single_file
        self.replace = replace
        self.append = append
        self.hint = hint
        parent, base = os.path.split(self.target)
        # A sibling, so that publishing is a rename on one file system; hidden, so that a scan of
        # the parent directory never reads a half-written table.
        self.staging = os.path.join(parent, f".{base}.gpu-exec-{uuid.uuid4().hex[:12]}.staging")

    def check(self) -> None:
        """Refuse a target that already holds data: nothing is silently overwritten."""
        target, hint = self.target, f"; {self.hint}" if self.hint else ""
        if self.single_file:
            if os.path.isdir(target):
                raise CatalogError(f"cannot write the file {target!r}: it is a directory")
            if os.path.exists(target):
                raise CatalogError(f"the file {target!r} already exists; gpu-exec does not overwrite files{hint}")
            return
        if os.path.exists(target) and not os.path.isdir(target):
            raise CatalogError(f"cannot write into {target!r}: it is a file, not a directory")
        if self.append:
            if not os.path.isdir(target):
                raise CatalogError(f"cannot add files to {target!r}: the directory is gone")
            return
        if not self.replace and os.path.isdir(target) and any(os.scandir(target)):
            raise CatalogError(f"the directory {target!r} already has files; gpu-exec does not overwrite "
                               f"them{hint}")

    def prepare(self) -> None:
        """Check the target and make the (empty) staging directory the partitions write into."""
        self.check()
        try:
            os.makedirs(os.path.dirname(self.target), exist_ok=True)
            os.mkdir(self.staging)
        except OSError as exc:
            raise CatalogError(f"cannot create a directory beside {self.target!r}: {exc}") from exc

    def commit(self) -> None:
        """Publish the written files at the target."""
        try:
            if self.single_file:
                self.check()  # again: something may have appeared while the query ran
                written = part_file_name(0, self.extension)
                if os.listdir(self.staging) != [written]:  # the planner merges a one-file write
                    raise CatalogError(f"internal error: a write to one file made {sorted(os.listdir(self.staging))}")
                os.replace(os.path.join(self.staging, written), self.target)
                shutil.rmtree(self.staging, ignore_errors=True)
            elif self.append:
                self.check()
                # One rename per file: a reader listing the directory meanwhile may see some of
                # the new files, never a half-written one.
                batch = uuid.uuid4().hex[:12]
                for written in sorted(os.listdir(self.staging)):
                    os.rename(os.path.join(self.staging, written), os.path.join(self.target, f"{batch}-{written}"))
                shutil.rmtree(self.staging, ignore_errors=True)
            elif self.replace and os.path.isdir(self.target):
                old = self.staging.removesuffix(".staging") + ".old"
                os.rename(self.target, old)
                try:
                    os.rename(self.staging, self.target)
                except OSError:
                    os.rename(old, self.target)
                    raise
                shutil.rmtree(old, ignore_errors=True)
            else:
                self.check()
                os.rename(self.staging, self.target)  # over an empty directory too (POSIX rename)
        except OSError as exc:
            raise CatalogError(f"cannot publish the written files at {self.target!r}: {exc}") from exc

    def abort(self) -> None:
        """Remove what the statement wrote. A task of a failed distributed query may still be
        renaming its file into the directory while it goes (Dask does not stop running tasks):
        try again until it is gone. Later writes fail, as the directory no longer exists."""
        for attempt in range(5):
            shutil.rmtree(self.staging, ignore_errors=True)
            if not os.path.exists(self.staging):
                return
            time.sleep(0.1 * (attempt + 1))
