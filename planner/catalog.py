"""The catalog: table names → files (Parquet or CSV) with their schemas, checked at registration."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from planner.errors import CatalogError
from planner.ir import TableSource
from planner.udf import PythonUdf

__all__ = ["Catalog", "ParquetFragment", "normalize_type", "normalize_schema", "parquet_fragments"]


def normalize_type(t: pa.DataType) -> pa.DataType:
    """The type gpu-exec computes with: one string type (cuDF has one), dictionaries decoded."""
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_dictionary(t):
        return normalize_type(t.value_type)
    return t


def normalize_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, normalize_type(f.type), f.nullable) for f in schema])


def _expand(name: str, path: str, suffix: str) -> tuple[str, ...]:
    """The files of a table: one file, a directory's files with ``suffix`` (recursively), or a
    glob's matches (``data/*.parquet``, ``data/**/part-*.parquet``), in name order."""
    if glob.has_magic(path):
        matches = sorted(f for f in glob.glob(path, recursive=True) if os.path.isfile(f))
        if not matches:
            raise CatalogError(f"table {name!r}: no file matches {path!r}")
        return tuple(matches)
    p = Path(path)
    if not p.exists():
        raise CatalogError(f"table {name!r}: no such file or directory: {path!r}")
    if p.is_dir():
        files = sorted(str(f) for f in p.rglob(f"*{suffix}") if f.is_file())
        if not files:
            raise CatalogError(f"table {name!r}: directory {path!r} holds no {suffix} files")
        return tuple(files)
    return (str(p),)


def _declared_columns(name: str, path: str, declared: pa.Schema, files: pa.Schema) -> pa.Schema:
    """The declared columns of a Parquet table, checked against its files: each must be there,
    with the same type (a silent cast could lose digits or fail half way through a query)."""
    problems = []
    for field in declared:
        index = files.get_field_index(field.name)
        if index < 0:
            problems.append(f"column {field.name!r} is not in the files (they have: {', '.join(files.names)})")
        elif files.field(index).type != field.type:
            problems.append(f"column {field.name!r} is declared {field.type} but is {files.field(index).type} "
                            "in the files")
    if problems:
        raise CatalogError(f"table {name!r} ({path!r}): " + "; ".join(problems))
    return pa.schema([files.field(f.name) for f in declared])


@dataclass(frozen=True, slots=True)
class ParquetFragment:
    """A unit of scan work: some row groups of one Parquet file."""

    path: str
    row_groups: tuple[int, ...]
    num_rows: int
    num_bytes: int


def parquet_fragments(source: TableSource) -> list[ParquetFragment]:
    """One fragment per row group of every file of ``source``, in file order."""
    out: list[ParquetFragment] = []
    for path in source.paths:
        try:
            meta = pq.ParquetFile(path).metadata
        except (OSError, pa.ArrowException) as exc:
            raise CatalogError(f"table {source.name!r}: cannot read Parquet file {path!r}: {exc}") from exc
        for rg in range(meta.num_row_groups):
            group = meta.row_group(rg)
            out.append(ParquetFragment(path, (rg,), group.num_rows, group.total_byte_size))
    return out


class Catalog:
    """Registered tables, by case-sensitive name."""

    def __init__(self) -> None:
        self._tables: dict[str, TableSource] = {}
        self._udfs: dict[str, PythonUdf] = {}

    def register_udf(self, udf: PythonUdf) -> None:
        """Add (or replace) a Python scalar function, by its SQL name."""
        self._udfs[udf.name] = udf

    def udf(self, name: str) -> PythonUdf | None:
        return self._udfs.get(name)

    def register_parquet(self, name: str, path: str | os.PathLike[str], *, schema: pa.Schema | None = None) -> TableSource:
        """Register a Parquet file or a directory of them (searched recursively) as ``name``.

        The table's columns are every file's, merged as DataFusion merges them: the first file's
        columns, then each column a later file adds (a file without a column reads it as NULLs);
        a column's type must be the same in every file. A missing or unreadable file is reported
        now, not when a query runs. A declared ``schema`` (CREATE EXTERNAL TABLE's columns) picks
        columns of the files by name, each with the files' type.
        """
        declared = schema
        paths = _expand(name, os.fspath(path), ".parquet")
        merged: dict[str, pa.Field] = {}
        seen: dict[str, int] = {}  # in how many files each column is
        for p in paths:
            try:
                file_schema = pq.read_schema(p)
            except (OSError, pa.ArrowException) as exc:
                raise CatalogError(
                    f"table {name!r}: {p!r} is not a readable Parquet file ({exc}); "
                    "check the path, or regenerate the file"
                ) from exc
            for f in normalize_schema(file_schema.remove_metadata()):
                known = merged.get(f.name)
                if known is None:
                    merged[f.name] = f
                elif known.type != f.type:
                    raise CatalogError(f"table {name!r}: column {f.name!r} is {f.type} in {p!r} but {known.type} "
                                       f"in {paths[0]!r} or another earlier file; a column needs one type in all "
                                       "the files of a table")
                elif f.nullable and not known.nullable:  # a column NULL-able in one file is in the table
                    merged[f.name] = known.with_nullable(True)
                seen[f.name] = seen.get(f.name, 0) + 1
        # A column some files lack is NULL in their rows.
        schema = pa.schema([f if seen[f.name] == len(paths) else f.with_nullable(True) for f in merged.values()])
        assert schema is not None
        if declared is not None:
            schema = _declared_columns(name, paths[0], declared, schema)
        return self._add(TableSource(name, "parquet", paths, schema, location=os.fspath(path)))

    def register_csv(self, name: str, path: str | os.PathLike[str], *, schema: pa.Schema | None = None,
                     has_header: bool = True, delimiter: str = ",") -> TableSource:
        """Register a CSV file or a directory of ``.csv`` files as ``name``. Columns are
        ``schema``'s, by position, when given; else named by the header line (``column_1``, ...
        without one, as DataFusion names them) and typed by inference from the first file."""
        paths = _expand(name, os.fspath(path), ".csv")
        read = pacsv.ReadOptions(autogenerate_column_names=not has_header)
        try:
            with pacsv.open_csv(paths[0], read_options=read,
                                parse_options=pacsv.ParseOptions(delimiter=delimiter)) as reader:
                inferred = normalize_schema(reader.schema)
        except (OSError, pa.ArrowException) as exc:
            raise CatalogError(f"table {name!r}: cannot read CSV file {paths[0]!r}: {exc}") from exc
        if schema is None:
            schema = inferred if has_header else pa.schema(
                [f.with_name(f"column_{i}") for i, f in enumerate(inferred, 1)])
        elif len(schema) != len(inferred):
            raise CatalogError(f"table {name!r}: {len(schema)} columns are declared but {paths[0]!r} has "
                               f"{len(inferred)}")
        return self._add(TableSource(name, "csv", paths, normalize_schema(schema), has_header, delimiter,
                                     location=os.fspath(path)))

    def _add(self, source: TableSource) -> TableSource:
        self._tables[source.name] = source
        return source

    def deregister(self, name: str) -> None:
        self._tables.pop(name, None)

    def get(self, name: str) -> TableSource:
        try:
            return self._tables[name]
        except KeyError:
            known = ", ".join(sorted(self._tables)) or "none"
            raise CatalogError(f"unknown table {name!r} (registered: {known})") from None

    def __contains__(self, name: str) -> bool:
        return name in self._tables

    def names(self) -> list[str]:
        return sorted(self._tables)
