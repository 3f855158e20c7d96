"""What a session's statements, DDL and DataFrames share: the catalog, DataFusion's planning context
and the lock that guards both, and the tables the session manages."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from planner.catalog import Catalog
from planner.errors import CatalogError, GpuExecError, SQLError, UnsupportedSQLError

if TYPE_CHECKING:
    import datafusion

__all__ = ["SessionState"]

_TABLE_NOT_FOUND = re.compile(r"table '(?:[^']*\.)?([^'.]+)' not found")


@dataclass(eq=False)
class SessionState:
    """The planning state of one session.

    Attributes
    ----------
    planner
        DataFusion's context: tables and views as DataFusion plans them.
    catalog
        gpu-exec's catalog: the files behind each table, as the engine reads them.
    lock
        Held for planning and catalog changes, from any thread (a Flight SQL server plans from
        many): DataFusion's context is not made for concurrent changes. Running queries needs none.
    managed_tables
        Tables made by CREATE TABLE AS → their warehouse directory (DROP TABLE deletes it).
    """

    planner: datafusion.SessionContext
    catalog: Catalog = field(default_factory=Catalog)
    lock: threading.RLock = field(default_factory=threading.RLock)
    managed_tables: dict[str, str] = field(default_factory=dict)

    def table_exists(self, name: str) -> bool:
        """A table or a view of that name (views live only in the planning context)."""
        return name in self.catalog or bool(self.planner.table_exist(name))

    def forget_planner_table(self, name: str) -> None:
        """Drop ``name`` from DataFusion's context, if it is there (before registering it anew)."""
        try:
            self.planner.deregister_table(name)
        except Exception:  # noqa: BLE001 — DataFusion raises a bare error for an unknown name
            pass

    def planning_error(self, message: str) -> GpuExecError:
        """The gpu-exec error for DataFusion's planning ``message``: an unknown table names the
        registered ones; a statement kind gpu-exec does not run lists those it does."""
        missing = _TABLE_NOT_FOUND.search(message)
        if missing:
            known = ", ".join(self.catalog.names()) or "none"
            return CatalogError(f"unknown table {missing.group(1)!r} (registered: {known})")
        if "not supported" in message and ("DDL" in message or "DML" in message or "Statement" in message):
            return UnsupportedSQLError([f"{message}; gpu-exec runs queries, CREATE [EXTERNAL] TABLE, DROP TABLE, "
                                        "CREATE VIEW, DROP VIEW, COPY, INSERT INTO, SHOW, DESCRIBE and EXPLAIN "
                                        "(tables are files: no UPDATE or DELETE)"])
        return SQLError(message)
