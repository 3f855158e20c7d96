"""DataFusion's expression functions, re-exported for gpu-exec DataFrames: ``from gpu_exec import functions as f``.

Every name of ``datafusion.functions`` (sum, avg, count, min, max, when, date_part, substring, ...)
is DataFusion's own object: expressions are planned by DataFusion and lowered by gpu-exec's
translator, so what runs is what DataFusion would plan. Added here: ``cast``, for symmetry with SQL,
and ``like`` — datafusion-python 55 has no builder for SQL's LIKE, which TPC-H needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from datafusion.functions import *  # noqa: F403 — the point of this module is DataFusion's surface
from datafusion.functions import __all__ as _datafusion_all

from datafusion import Expr, lit

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [*_datafusion_all, "cast", "like"]


def cast(expr: Expr, to: pa.DataType) -> Expr:
    """``CAST(expr AS to)``; the same as ``expr.cast(to)``."""
    return expr.cast(to)


def like(expr: Expr, pattern: str, *, negated: bool = False, case_insensitive: bool = False) -> Expr:
    """``expr [NOT] [I]LIKE pattern``, the SQL pattern match (``%`` any run, ``_`` one character).

    datafusion-python exposes no LIKE builder, but it decodes expressions from DataFusion's protobuf
    form; the node is encoded here (datafusion-proto ``LogicalExprNode.like``/``ilike`` = 31/32,
    ``LikeNode {negated = 1; expr = 2; pattern = 3}``), so the result is DataFusion's own Like.
    """
    node = (_tag(1, 0) + b"\x01" if negated else b"") + _field(2, expr.to_bytes()) + _field(3, lit(pattern).to_bytes())
    return Expr.from_bytes(_field(32 if case_insensitive else 31, node))


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _tag(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _field(number: int, payload: bytes) -> bytes:
    return _tag(number, 2) + _varint(len(payload)) + payload
