"""Flight SQL messages as they cross the wire: commands packed in ``google.protobuf.Any``, and
gpu-exec's own action names and headers. Shared by the query endpoint and the remote client."""

from __future__ import annotations

import pyarrow.flight as fl
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message

from scheduler.protocol.proto import flight_sql_pb2 as pb

__all__ = ["EXPLAIN_ACTION", "CANCEL_ACTION", "TAG_HEADER", "pack", "unpack"]

EXPLAIN_ACTION = "gpu-exec.explain"
CANCEL_ACTION = "gpu-exec.cancel"
TAG_HEADER = "x-gpu-exec-tag"
_TYPE_PREFIX = "type.googleapis.com/"
# The protocol's commands by full name; anything else is answered "unsupported command".
_COMMANDS: dict[str, type[Message]] = {
    cls.DESCRIPTOR.full_name: cls  # type: ignore[attr-defined]
    for cls in (pb.CommandStatementQuery, pb.CommandStatementSubstraitPlan, pb.CommandPreparedStatementQuery, pb.CommandStatementUpdate,
                pb.CommandPreparedStatementUpdate, pb.CommandGetCatalogs, pb.CommandGetDbSchemas,
                pb.CommandGetTables, pb.CommandGetTableTypes, pb.CommandGetSqlInfo, pb.CommandGetPrimaryKeys,
                pb.CommandGetExportedKeys, pb.CommandGetImportedKeys, pb.CommandGetCrossReference,
                pb.CommandGetXdbcTypeInfo,
                pb.TicketStatementQuery, pb.ActionCreatePreparedStatementRequest,
                pb.ActionCreatePreparedSubstraitPlanRequest,
                pb.ActionClosePreparedStatementRequest, pb.ActionCancelQueryRequest,
                # answers, unpacked by gpu-exec's own client
                pb.ActionCreatePreparedStatementResult, pb.ActionCancelQueryResult)
}


def pack(message: Message) -> bytes:
    """``message`` packed in a serialized ``google.protobuf.Any``, as Flight SQL sends commands."""
    wrapper = any_pb2.Any()
    wrapper.Pack(message)
    return wrapper.SerializeToString()


def unpack(data: bytes) -> Message:
    """The Flight SQL command in a serialized ``Any``; FlightServerError naming an unknown one."""
    wrapper = any_pb2.Any()
    try:
        wrapper.ParseFromString(data)
    except DecodeError:
        # A mistake in the request: a Flight error carries only the message (pyarrow would send
        # ArrowInvalid with the server's Python traceback attached).
        raise fl.FlightServerError("the request is not a Flight SQL command (not a protobuf Any)") from None
    name = wrapper.type_url.removeprefix(_TYPE_PREFIX)
    cls = _COMMANDS.get(name)
    if cls is None:
        raise fl.FlightServerError(f"UnsupportedSQLError: gpu-exec does not support the Flight SQL command {name or '(empty)'}")
    message = cls()
    wrapper.Unpack(message)
    return message
