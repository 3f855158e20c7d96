"""Simulated ``pylibcudf.strings.combine`` (models pylibcudf 26.10, ``combine.pyx``; libcudf
``cpp/src/strings/combine/concatenate.cu``).

``concatenate(strings_columns, separator, narep=None, col_narep=None, separate_nulls=YES)`` joins
each row's strings with the separator:

- ``narep=None`` is replaced by pylibcudf with a *valid empty* string scalar (``combine.pyx``:
  ``make_string_scalar("")``), so NULL entries read as "" and the result has no NULL rows. Only
  an *invalid* narep scalar (``Scalar.from_py(None, STRING)``) makes a row with any NULL entry
  NULL — which is what SQL ``||`` needs.
- Scalar separator: ``narep`` replaces NULL entries; ``col_narep`` is refused (ValueError); at
  least two columns (RuntimeError). Column separator: ``narep`` replaces a NULL separator (if
  invalid, a NULL separator makes the row NULL) and ``col_narep`` replaces NULL entries.
- ``separate_nulls=YES`` writes the separator next to a NULL entry (its replacement) like any
  other; NO skips the separator of a NULL entry (libcudf's ``process_row``).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from pylibcudf.column import Column
from pylibcudf.scalar import Scalar
from pylibcudf.strings._common import string_column, string_scalar, strings
from pylibcudf.table import Table
from pylibcudf.types import TypeId

__all__ = ["OutputIfEmptyList", "SeparatorOnNulls", "concatenate", "join_strings"]


class SeparatorOnNulls(IntEnum):
    YES = 0
    NO = 1


class OutputIfEmptyList(IntEnum):
    EMPTY_STRING = 0
    NULL_ELEMENT = 1


def _row(entries: list[str | None], separator: str, narep: str | None, separate_nulls: SeparatorOnNulls) -> str | None:
    if narep is None and any(e is None for e in entries):
        return None
    out: list[str] = []
    write_separator = False
    for e in entries:
        null = e is None
        if write_separator and (separate_nulls == SeparatorOnNulls.YES or not null):
            out.append(separator)
            write_separator = False
        out.append(narep if null else e)  # type: ignore[arg-type]
        write_separator = write_separator or separate_nulls == SeparatorOnNulls.YES or not null
    return "".join(out)


def concatenate(strings_columns: Table, separator: Column | Scalar, narep: Scalar | None = None,
                col_narep: Scalar | None = None, separate_nulls: SeparatorOnNulls = SeparatorOnNulls.YES,
                stream: Any = None, mr: Any = None) -> Column:
    if not isinstance(strings_columns, Table):
        raise TypeError(f"strings_columns must be a Table, not {type(strings_columns).__name__}")
    if narep is not None and not isinstance(narep, Scalar):
        raise TypeError("narep must be a Scalar or None")
    if col_narep is not None and not isinstance(col_narep, Scalar):
        raise TypeError("col_narep must be a Scalar or None")
    separate = SeparatorOnNulls(int(separate_nulls))
    # pylibcudf: a missing narep becomes a *valid* "" scalar.
    narep_value = "" if narep is None else string_scalar(narep, "narep", must_be_valid=False)
    cols = strings_columns.columns()
    if any(c.type().id() != TypeId.STRING for c in cols):
        raise RuntimeError("All columns must be of type string")
    n = strings_columns.num_rows() if cols else 0
    rows = list(zip(*[strings(c) for c in cols])) if cols else []
    if isinstance(separator, Scalar):
        if col_narep is not None:
            raise ValueError("col_narep cannot be specified when separator is a Scalar")
        if len(cols) < 2:
            raise RuntimeError("At least two columns must be specified")
        sep = string_scalar(separator, "separator", must_be_valid=False)
        if n == 0:
            return string_column([])
        if sep is None:
            raise RuntimeError("Parameter separator must be a valid string_scalar")
        return string_column([_row(list(r), sep, narep_value, separate) for r in rows])
    if isinstance(separator, Column):
        if not cols:
            raise RuntimeError("At least one column must be specified")
        seps = strings(separator, "separator")
        if len(seps) != n:
            raise RuntimeError("Separators column should be the same size as the strings columns")
        col_rep = "" if col_narep is None else string_scalar(col_narep, "col_narep", must_be_valid=False)
        out: list[str | None] = []
        for r, sep in zip(rows, seps):
            if sep is None:
                if narep_value is None:
                    out.append(None)
                    continue
                sep = narep_value
            out.append(_row(list(r), sep, col_rep, separate))
        return string_column(out)
    raise ValueError("separator must be a Column or a Scalar")


def join_strings(input: Column, separator: Scalar, narep: Scalar, stream: Any = None, mr: Any = None) -> Column:
    """All rows joined into one string (NULL rows replaced by ``narep``, skipped if it is invalid)."""
    sep = string_scalar(separator, "separator")
    rep = string_scalar(narep, "narep", must_be_valid=False)
    rows = strings(input)
    kept = [r if r is not None else rep for r in rows if r is not None or rep is not None]
    return string_column([sep.join(kept)])  # type: ignore[union-attr, arg-type]



