"""Queries over ``information_schema`` (and ``SHOW <setting>``, which DataFusion plans over
``information_schema.df_settings``): what tables, views, columns, functions and settings exist.

These hold no data, only the catalog, and DataFusion's planning context mirrors gpu-exec's catalog
(every table and view gpu-exec registers is registered there too, under the same name and schema).
So a query that reads only ``information_schema`` is answered by DataFusion from that context, at
once, like a statement; a query that joins it with data tables is refused by the translator, which
names the table. ``df_settings`` lists the planner's (DataFusion's) settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from planner.catalog import normalize_schema

if TYPE_CHECKING:
    import datafusion

    from gpu_exec.api.dataframe import DataFrame
    from gpu_exec.api.session import Session

__all__ = ["metadata_query", "metadata_schema", "reads_only_metadata"]

_SCHEMA = "information_schema"


def _scanned(plan: Any, out: list[tuple[Any, ...]]) -> None:
    variant = plan.to_variant()
    if type(variant).__name__ == "TableScan":
        out.append(tuple(variant.fqn()))
    for child in plan.inputs():
        _scanned(child, out)


def reads_only_metadata(df: datafusion.DataFrame) -> bool:
    """Does ``df`` read tables, all of them in ``information_schema``?"""
    scans: list[tuple[Any, ...]] = []
    _scanned(df.logical_plan(), scans)
    return bool(scans) and all(scan[1] == _SCHEMA for scan in scans)


def metadata_schema(df: datafusion.DataFrame) -> pa.Schema:
    """The schema ``metadata_query`` answers ``df`` with, without running it."""
    return normalize_schema(df.schema())


def metadata_query(session: Session, df: datafusion.DataFrame) -> DataFrame | None:
    """The answer to ``df`` when every table it reads is in ``information_schema``; None when it
    reads none or also reads data tables (those are gpu-exec's to run, or to refuse)."""
    from gpu_exec.api.ddl import statement_result

    if not reads_only_metadata(df):
        return None
    table = df.to_arrow_table()
    return statement_result(session, table.cast(normalize_schema(table.schema)))
