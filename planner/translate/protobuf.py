"""DataFusion's protobuf encoding of expressions, read for the fields its Python API does not expose."""

from __future__ import annotations

from planner.errors import SQLError

# datafusion-proto 55. Only the wire format is parsed: varint and length-delimited fields.

_PB_EXPR_ALIAS = 2  # LogicalExprNode.alias: AliasNode {expr = 1}
_PB_ALIAS_EXPR = 1
_PB_EXPR_WINDOW = 18  # LogicalExprNode.window_expr: WindowExprNode
_PB_WINDOW_DISTINCT = 12
_PB_WINDOW_FILTER = 13
_PB_WINDOW_NULL_TREATMENT = 11  # NullTreatment: RESPECT_NULLS = 0, IGNORE_NULLS = 1
_PB_IGNORE_NULLS = 1
_PB_EXPR_AGGREGATE_UDF = 19  # LogicalExprNode.aggregate_udf_expr: AggregateUDFExprNode
_PB_AGGREGATE_FILTER = 3
_PB_AGGREGATE_ORDER_BY = 4  # repeated SortExprNode {expr = 1, asc = 2, nulls_first = 3}
_PB_SORT_EXPR, _PB_SORT_ASC, _PB_SORT_NULLS_FIRST = 1, 2, 3
_PB_AGGREGATE_NULL_TREATMENT = 7
_PB_EXPR_ILIKE = 32  # LogicalExprNode.ilike (31 is like)
_PB_EXPR_SCALAR_SUBQUERY = 36  # LogicalExprNode.scalar_subquery_expr: {subquery = 1}
_PB_SCALAR_SUBQUERY_NODE = 1
_PB_SUBQUERY_PLAN = 1  # SubqueryNode.subquery: LogicalPlanNode
_PB_SUBQUERY_OUTER_REFS = 2  # SubqueryNode.outer_ref_columns
_PB_PLAN_CTE_WORK_TABLE_SCAN = 32  # LogicalPlanNode.cte_work_table_scan: CteWorkTableScanNode


def _proto_fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """The top-level (field number, value) pairs of a protobuf message."""
    out: list[tuple[int, int | bytes]] = []
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
            out.append((number, value))
        elif wire == 2:
            length, i = _varint(buf, i)
            out.append((number, buf[i : i + length]))
            i += length
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise SQLError(f"internal planning error: unexpected protobuf wire type {wire}")
    return out


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def _proto_field(buf: bytes, number: int) -> int | bytes | None:
    """The value of field ``number`` (the last one, as protobuf merges singular fields)."""
    found: int | bytes | None = None
    for field_number, value in _proto_fields(buf):
        if field_number == number:
            found = value
    return found


def _proto_tag(buf: bytes) -> int | None:
    """Which member of LogicalExprNode's ``oneof`` an encoded expression is."""
    fields = _proto_fields(buf)
    return fields[0][0] if fields else None


def _proto_unalias(buf: bytes) -> bytes:
    while _proto_tag(buf) == _PB_EXPR_ALIAS:
        inner = _proto_field(_proto_field(buf, _PB_EXPR_ALIAS) or b"", _PB_ALIAS_EXPR)
        if not isinstance(inner, bytes):
            break
        buf = inner
    return buf


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _proto_replace(buf: bytes, old: bytes, new: bytes) -> bytes:
    """``buf`` with every embedded message equal to ``old`` replaced by ``new``.

    Only length-delimited fields whose bytes contain ``old`` are descended into (and re-encoded
    with their new lengths); every other field is copied byte for byte, so a replacement always
    falls on a whole field, never across field boundaries."""
    if buf == old:
        return new
    if old not in buf:
        return buf
    out = bytearray()
    i, n = 0, len(buf)
    while i < n:
        start = i
        key, i = _varint(buf, i)
        wire = key & 7
        if wire == 0:
            _, i = _varint(buf, i)
            out += buf[start:i]
        elif wire == 2:
            length, j = _varint(buf, i)
            value = buf[j : j + length]
            i = j + length
            if old in value:
                value = _proto_replace(value, old, new)
                out += _encode_varint(key) + _encode_varint(len(value)) + value
            else:
                out += buf[start:i]
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
            out += buf[start:i]
        else:
            raise SQLError(f"internal planning error: unexpected protobuf wire type {wire}")
    if i != n:
        raise SQLError("internal planning error: a truncated protobuf message")
    return bytes(out)
