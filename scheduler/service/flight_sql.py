"""The query endpoint: Arrow Flight SQL on ``pyarrow.flight``, over one gpu-exec session.

Any Flight SQL client (the ADBC and JDBC drivers, DBeaver, ``gpu_exec.connect("grpc://...")``)
sends SQL here. The protocol's commands travel as protobuf messages packed in
``google.protobuf.Any`` (``scheduler/protocol/proto/flight_sql.proto``):

- GetFlightInfo(CommandStatementQuery | CommandStatementSubstraitPlan |
  CommandPreparedStatementQuery) plans and runs the statement (a Substrait plan as
  ``Session.sql_substrait`` does) — a client that goes away meanwhile (or cancels its call) cancels it, and the
  server's ``query_timeout`` bounds it — and answers with the result's schema and one endpoint per
  slice of about ``endpoint_bytes`` (scheduler.service.results); DoGet streams a slice as record batches
  of at most ``batch_rows`` rows.
- DoPut(CommandStatementUpdate | CommandPreparedStatementUpdate) runs DDL, COPY, CTAS and
  answers the row count; DoPut(CommandPreparedStatementQuery) binds parameters.
- DoAction: CreatePreparedStatement, CreatePreparedSubstraitPlan, ClosePreparedStatement, CancelQuery, CancelFlightInfo, and
  gpu-exec's own ``gpu-exec.explain`` (the physical plan with each operator's device) and
  ``gpu-exec.cancel`` (a statement still running, by the tag its client sent with it).
- The metadata commands GetCatalogs, GetDbSchemas, GetTables (with schemas), GetTableTypes,
  GetSqlInfo, GetXdbcTypeInfo and the key commands (scheduler.service.flight_sql_catalog).

Every statement is recorded in a ``QueryRegistry`` (``gpu-exec jobs`` lists it). Errors reach the
client as Flight errors whose message starts with the error's kind (``SQLError: ...``).
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

import pyarrow as pa
import pyarrow.flight as fl
from google.protobuf.message import Message

from gpu_exec.api.sql_scripts import rows_written
from gpu_exec.api.substrait import check_release, prepare_substrait
from planner.errors import CatalogError, GpuExecError, SQLError, UnsupportedSQLError, one_line
from scheduler.service import flight_sql_catalog as catalog
from scheduler.protocol.credentials import AuthError
from scheduler.errors import QueryCancelled
from scheduler.protocol.flight_sql_messages import CANCEL_ACTION, EXPLAIN_ACTION, TAG_HEADER, pack, unpack
from scheduler.protocol.proto import flight_sql_pb2 as pb
from scheduler.service.registry import QueryRecord, QueryRegistry, QueryState, RecordProgress
from scheduler.service.results import ResultStore

if TYPE_CHECKING:
    from gpu_exec.api.session import Session
    from scheduler.service.auth import AuthConfig

__all__ = ["ServiceLimits", "FlightSqlServer"]

log = logging.getLogger(__name__)

def _invalid(message: str) -> Exception:
    # A mistake in the request. (pyarrow would send ArrowInvalid as INVALID_ARGUMENT, but with the
    # server's Python traceback attached; Flight errors carry only the message.)
    return fl.FlightServerError(message)


@dataclass(frozen=True)
class ServiceLimits:
    """``query_timeout``: seconds a statement may run (0: no limit); ``max_result_bytes``: the
    largest result kept for a client (bigger ones fail, naming COPY as the way out);
    ``endpoint_bytes``: the size of one result stream (results not yet fetched are kept up to
    twice ``max_result_bytes`` in all); ``batch_rows``: rows per record batch;
    ``result_ttl``: seconds an unfetched result is kept; ``max_concurrent_queries``: statements
    run at once (more wait for a free slot); ``prepared_ttl``: seconds an unused prepared statement
    is kept."""

    query_timeout: float = 3600.0
    max_result_bytes: int = 4 * 1024**3
    endpoint_bytes: int = 64 * 1024**2
    batch_rows: int = 65_536
    result_ttl: float = 600.0
    max_concurrent_queries: int = 16
    prepared_ttl: float = 3600.0


@dataclass
class _Prepared:
    query: str  # for a Substrait plan, its _substrait_label
    statement: Any  # gpu_exec.api.statements.PreparedStatement or gpu_exec.api.substrait.PreparedSubstrait
    parameters: pa.Table | None = None
    last_used: float = 0.0


class _AuthMiddleware(fl.ServerMiddleware):
    def __init__(self, user: str, reply_token: str | None) -> None:
        self.user = user
        self.reply_token = reply_token

    def sending_headers(self) -> dict[str, str]:
        # A client that sent basic auth gets a bearer token to use from then on (what the ADBC and
        # JDBC drivers expect from their Handshake).
        return {"authorization": f"Bearer {self.reply_token}"} if self.reply_token else {}


class _AuthMiddlewareFactory(fl.ServerMiddlewareFactory):
    def __init__(self, auth: AuthConfig) -> None:
        self.auth = auth

    def start_call(self, info: fl.CallInfo, headers: dict[str, list[str]]) -> _AuthMiddleware:
        values = headers.get("authorization") or headers.get("Authorization") or []
        header = values[0] if values else None
        try:
            user = self.auth.authenticate(header)
        except AuthError as exc:
            raise fl.FlightUnauthenticatedError(str(exc)) from None
        basic = header is not None and header.strip().lower().startswith("basic ")
        return _AuthMiddleware(user, self.auth.issue_session_token(user) if basic else None)


class _TagMiddleware(fl.ServerMiddleware):
    def __init__(self, tag: str) -> None:
        self.tag = tag


class _TagMiddlewareFactory(fl.ServerMiddlewareFactory):
    """Reads the ``x-gpu-exec-tag`` header a gpu-exec client sends with a statement, so that it can
    cancel that statement later by its tag (``CANCEL_ACTION``): the statement runs inside
    GetFlightInfo, so the client learns nothing else about it until it has finished."""

    def start_call(self, info: fl.CallInfo, headers: dict[str, list[str]]) -> _TagMiddleware | None:
        values = headers.get(TAG_HEADER) or []
        return _TagMiddleware(values[0][:200]) if values else None


class _NoHandshakeAuth(fl.ServerAuthHandler):
    """Answers the Handshake RPC (which Flight clients send before basic auth) with nothing: the
    credentials are checked by the middleware, on every call alike."""

    def authenticate(self, outgoing: Any, incoming: Any) -> None:
        pass

    def is_valid(self, token: bytes) -> str:
        return ""


class FlightSqlServer(fl.FlightServerBase):
    """Flight SQL over ``session`` at ``location`` (e.g. ``grpc://0.0.0.0:50050``; ``grpc+tls://``
    with ``tls=(cert_pem, key_pem)``). ``auth`` with credentials makes every call authenticate."""

    def __init__(self, session: Session, location: str, *, registry: QueryRegistry | None = None,
                 auth: AuthConfig | None = None, tls: tuple[bytes, bytes] | None = None,
                 limits: ServiceLimits = ServiceLimits(), version: str = "") -> None:
        authenticating = auth is not None and auth.enabled
        middleware: dict[str, fl.ServerMiddlewareFactory] = {"tag": _TagMiddlewareFactory()}
        if authenticating:
            assert auth is not None
            middleware["auth"] = _AuthMiddlewareFactory(auth)
        certificates = [fl.CertKeyPair(cert=tls[0], key=tls[1])] if tls else []
        super().__init__(location, auth_handler=_NoHandshakeAuth() if authenticating else None,
                         tls_certificates=certificates, middleware=middleware)
        self.session = session
        self.registry = registry or QueryRegistry()
        self.limits = limits
        self.version = version or _package_version()
        self.results = ResultStore(endpoint_bytes=limits.endpoint_bytes, ttl=limits.result_ttl,
                                   max_held_bytes=2 * limits.max_result_bytes)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=limits.max_concurrent_queries,
                                                           thread_name_prefix="gpu-exec-query")
        self._prepared: dict[bytes, _Prepared] = {}
        self._prepared_lock = threading.Lock()

    # ---- GetFlightInfo / GetSchema / DoGet ----------------------------------------------------
    def get_flight_info(self, context: fl.ServerCallContext, descriptor: fl.FlightDescriptor) -> fl.FlightInfo:
        command = self._command(descriptor)
        if isinstance(command, pb.CommandStatementQuery):
            table = self._run(context, command.query, self._sql(command.query))
        elif isinstance(command, pb.CommandStatementSubstraitPlan):
            plan = self._substrait_plan(command.plan)
            table = self._run(context, _substrait_label(plan), lambda record: _collect(
                self.session.sql_substrait(plan), record))
        elif isinstance(command, pb.CommandPreparedStatementQuery):
            prepared = self._prepared_statement(command.prepared_statement_handle)
            table = self._run(context, prepared.query, self._bound(prepared))
        else:
            table = self._metadata(command)
        handle, count = self._guard(lambda: self.results.put(table))
        endpoints = [fl.FlightEndpoint(pack(pb.TicketStatementQuery(statement_handle=f"{handle}:{i}".encode())), [])
                     for i in range(count)]
        return fl.FlightInfo(table.schema, descriptor, endpoints, table.num_rows, table.nbytes, ordered=True)

    def get_schema(self, context: fl.ServerCallContext, descriptor: fl.FlightDescriptor) -> fl.SchemaResult:
        command = self._command(descriptor)
        if isinstance(command, pb.CommandStatementQuery):
            schema = self._guard(lambda: self.session.prepare(command.query).dataset_schema)
        elif isinstance(command, pb.CommandStatementSubstraitPlan):
            plan = self._substrait_plan(command.plan)
            schema = self._guard(lambda: prepare_substrait(self.session, plan).dataset_schema)
        elif isinstance(command, pb.CommandPreparedStatementQuery):
            schema = self._prepared_statement(command.prepared_statement_handle).statement.dataset_schema
        else:
            schema = self._metadata(command).schema
        return fl.SchemaResult(schema)

    def do_get(self, context: fl.ServerCallContext, ticket: fl.Ticket) -> fl.FlightDataStream:
        command = unpack(ticket.ticket)
        if not isinstance(command, pb.TicketStatementQuery):
            raise _invalid("DoGet needs a ticket from GetFlightInfo")
        handle, _, index_text = command.statement_handle.decode(errors="replace").partition(":")
        rows = self.results.take(handle, int(index_text or -1)) if index_text.isdigit() else None
        if rows is None:
            raise fl.FlightServerError(
                "CatalogError: this ticket's result is gone: it was fetched already, cancelled, or "
                f"expired (results are kept {self.limits.result_ttl:g} s); run the statement again")
        return fl.GeneratorStream(rows.schema, self._stream(handle, int(index_text), rows))

    def _stream(self, handle: str, index: int, rows: pa.Table) -> Iterator[pa.RecordBatch]:
        completely = False
        try:
            yield from rows.to_batches(max_chunksize=self.limits.batch_rows)
            completely = True
        finally:
            # Also reached when the client goes away mid-stream: pyarrow closes the generator.
            self.results.streamed(handle, index, completely=completely)

    # ---- DoPut ---------------------------------------------------------------------------------
    def do_put(self, context: fl.ServerCallContext, descriptor: fl.FlightDescriptor,
               reader: fl.MetadataRecordBatchReader, writer: fl.FlightMetadataWriter) -> None:
        command = self._command(descriptor)
        if isinstance(command, pb.CommandStatementUpdate):
            table = self._run(context, command.query, self._sql(command.query))
            writer.write(pb.DoPutUpdateResult(record_count=_record_count(command.query, table)).SerializeToString())
        elif isinstance(command, pb.CommandPreparedStatementQuery):
            prepared = self._prepared_statement(command.prepared_statement_handle)
            prepared.parameters = self._read_parameters(reader, prepared)
            result = pb.DoPutPreparedStatementResult(prepared_statement_handle=command.prepared_statement_handle)
            writer.write(result.SerializeToString())
        elif isinstance(command, pb.CommandPreparedStatementUpdate):
            prepared = self._prepared_statement(command.prepared_statement_handle)
            parameters = self._read_parameters(reader, prepared)
            if parameters is not None:
                prepared.parameters = parameters
            table = self._run(context, prepared.query, self._bound(prepared))
            writer.write(pb.DoPutUpdateResult(record_count=_record_count(prepared.query, table)).SerializeToString())
        else:
            raise _invalid(f"DoPut does not take {type(command).__name__}")

    def _read_parameters(self, reader: fl.MetadataRecordBatchReader, prepared: _Prepared) -> pa.Table | None:
        table = reader.read_all()
        if table.num_columns == 0 and table.num_rows == 0:
            return None
        expected = len(prepared.statement.parameter_schema)
        if table.num_columns != expected:
            raise _invalid(f"SQLError: the statement has {expected} parameter(s) but {table.num_columns} "
                           f"column(s) of values were bound: {prepared.query[:200]}")
        return table

    # ---- DoAction ------------------------------------------------------------------------------
    def list_actions(self, context: fl.ServerCallContext) -> list[tuple[str, str]]:
        return [
            ("CreatePreparedStatement", "plan a statement with $1, $2, ... parameters"),
            ("CreatePreparedSubstraitPlan", "plan a serialized Substrait plan"),
            ("ClosePreparedStatement", "forget a prepared statement"),
            ("CancelQuery", "cancel a query by its FlightInfo (deprecated by CancelFlightInfo)"),
            ("CancelFlightInfo", "cancel a query by its FlightInfo, dropping its results"),
            (EXPLAIN_ACTION, 'the physical plan of {"sql": ..., "device": null|"cpu"|"gpu"} as text'),
            (CANCEL_ACTION, f"cancel the running statements sent with the {TAG_HEADER} header given "
                            "as the body; answers how many"),
        ]

    def do_action(self, context: fl.ServerCallContext, action: fl.Action) -> Iterator[bytes]:
        kind, body = action.type, action.body.to_pybytes() if action.body is not None else b""
        if kind == "CreatePreparedStatement":
            request = unpack(body)
            assert isinstance(request, pb.ActionCreatePreparedStatementRequest)
            return iter([pack(self._create_prepared(request.query))])
        if kind == "CreatePreparedSubstraitPlan":
            request = unpack(body)
            if not isinstance(request, pb.ActionCreatePreparedSubstraitPlanRequest):
                raise _invalid("CreatePreparedSubstraitPlan takes an ActionCreatePreparedSubstraitPlanRequest")
            plan = self._substrait_plan(request.plan)
            return iter([pack(self._create_prepared(_substrait_label(plan), plan))])
        if kind == "ClosePreparedStatement":
            request = unpack(body)
            assert isinstance(request, pb.ActionClosePreparedStatementRequest)
            with self._prepared_lock:
                self._prepared.pop(request.prepared_statement_handle, None)
            return iter([])
        if kind == "CancelQuery":
            request = unpack(body)
            assert isinstance(request, pb.ActionCancelQueryRequest)
            status = self._cancel_info(fl.FlightInfo.deserialize(request.info))
            return iter([pack(pb.ActionCancelQueryResult(result=status))])
        if kind == "CancelFlightInfo":
            # Flight's CancelFlightInfoRequest {FlightInfo info = 1} and CancelFlightInfoResult
            # {CancelStatus status = 1} have the wire shape of the two messages used here.
            request = pb.ActionCancelQueryRequest.FromString(body)
            status = self._cancel_info(fl.FlightInfo.deserialize(request.info))
            return iter([pb.ActionCancelQueryResult(result=status).SerializeToString()])
        if kind == EXPLAIN_ACTION:
            try:
                options = json.loads(body or b"{}")
                sql, device = options["sql"], options.get("device")
            except (ValueError, KeyError, TypeError):
                raise _invalid(f'{EXPLAIN_ACTION} takes a JSON body {{"sql": ..., "device": ...}}') from None
            return iter([self._guard(lambda: self.session.sql(sql).explain(device)).encode()])
        if kind == CANCEL_ACTION:
            # The tag is the capability: gpu-exec's client makes it random (uuid4) for every run, and
            # only that client knows it. (The user can't serve: anonymous users differ by peer.)
            tag = body.decode(errors="replace")
            running = [r for r in self.registry.list(running_only=True) if tag and r.tag == tag]
            return iter([str(sum(r.cancel() for r in running)).encode()])
        raise fl.FlightServerError(f"UnsupportedSQLError: gpu-exec has no action {kind!r}")

    def _create_prepared(self, query: str, plan: bytes | None = None) -> pb.ActionCreatePreparedStatementResult:
        """A prepared statement of ``query``, or of the Substrait ``plan`` (``query`` its label)."""
        if plan is None:
            statement = self._guard(lambda: self.session.prepare(query))
        else:
            statement = self._guard(lambda: prepare_substrait(self.session, plan))
        handle = _new_handle()
        with self._prepared_lock:
            self._expire_prepared()
            self._prepared[handle] = _Prepared(query, statement, last_used=time.monotonic())
        return pb.ActionCreatePreparedStatementResult(
            prepared_statement_handle=handle,
            dataset_schema=statement.dataset_schema.serialize().to_pybytes(),
            parameter_schema=statement.parameter_schema.serialize().to_pybytes(),
        )

    def _prepared_statement(self, handle: bytes) -> _Prepared:
        with self._prepared_lock:
            self._expire_prepared()
            prepared = self._prepared.get(handle)
            if prepared is None:
                raise fl.FlightServerError(
                    "CatalogError: unknown prepared statement (closed, or unused for "
                    f"{self.limits.prepared_ttl:g} s); prepare it again")
            prepared.last_used = time.monotonic()
            return prepared

    def _expire_prepared(self) -> None:
        limit = time.monotonic() - self.limits.prepared_ttl
        for handle in [h for h, p in self._prepared.items() if p.last_used < limit]:
            del self._prepared[handle]

    def _cancel_info(self, info: fl.FlightInfo) -> int:
        """Drop the results of ``info``'s endpoints (their query has run: GetFlightInfo runs it)."""
        dropped = False
        for endpoint in info.endpoints:
            try:
                ticket = unpack(endpoint.ticket.ticket)
            except Exception:  # noqa: BLE001 — not one of ours: nothing to cancel
                continue
            if isinstance(ticket, pb.TicketStatementQuery):
                dropped |= self.results.drop(ticket.statement_handle.decode(errors="replace").partition(":")[0])
        result = pb.ActionCancelQueryResult
        return result.CANCEL_RESULT_CANCELLED if dropped else result.CANCEL_RESULT_NOT_CANCELLABLE

    # ---- running statements --------------------------------------------------------------------
    def _command(self, descriptor: fl.FlightDescriptor) -> Message:
        if descriptor.descriptor_type != fl.DescriptorType.CMD:
            raise _invalid("gpu-exec takes Flight SQL commands, not path descriptors")
        return unpack(descriptor.command)

    def _substrait_plan(self, message: pb.SubstraitPlan) -> bytes:
        """The plan's bytes, once the release the client names (if any) is one gpu-exec takes."""
        self._guard(lambda: check_release(message.version))
        return message.plan

    def _sql(self, query: str) -> Callable[[QueryRecord], pa.Table]:
        def run(record: QueryRecord) -> pa.Table:
            frame = self.session.sql(query)
            return _collect(frame, record)
        return run

    def _bound(self, prepared: _Prepared) -> Callable[[QueryRecord], pa.Table]:
        """Run the prepared statement once per row of bound parameters (once without any)."""
        def run(record: QueryRecord) -> pa.Table:
            params = prepared.parameters
            if params is None:
                if len(prepared.statement.parameter_schema):
                    raise SQLError(f"the statement has {len(prepared.statement.parameter_schema)} parameter(s) "
                                   "and none were bound")
                return _collect(prepared.statement.bind([]), record)
            tables = []
            for row in range(params.num_rows):
                values = [params.column(i)[row] for i in range(params.num_columns)]
                tables.append(_collect(prepared.statement.bind(values), record))
            if not tables:
                return pa.table({name: pa.array([], t) for name, t in
                                 zip(prepared.statement.dataset_schema.names, prepared.statement.dataset_schema.types)})
            return pa.concat_tables(tables)
        return run

    def _run(self, context: fl.ServerCallContext, sql: str, run: Callable[[QueryRecord], pa.Table]) -> pa.Table:
        """Run a statement on the pool, recorded in the registry; cancelled when the client's call
        is, failed when it outlives ``query_timeout`` or its result is over ``max_result_bytes``."""
        record = self.registry.start(sql, self._user(context))
        tagged = context.get_middleware("tag")
        if isinstance(tagged, _TagMiddleware):
            record.tag = tagged.tag
        future = self._pool.submit(run, record)
        future.add_done_callback(lambda _: record.stopped.set())
        timeout = self.limits.query_timeout
        deadline = time.monotonic() + timeout if timeout > 0 else None
        while True:
            try:
                table = future.result(timeout=0.05)
                break
            except concurrent.futures.TimeoutError:
                if context.is_cancelled():
                    record.cancel()
                    record.finish(QueryState.CANCELLED, error="the client cancelled the call or went away")
                    raise fl.FlightCancelledError(f"QueryCancelled: {record.query_id} cancelled: the client went away")
                if deadline is not None and time.monotonic() > deadline:
                    record.cancel()
                    message = (f"QueryCancelled: {record.query_id} ran longer than the server's query timeout "
                               f"of {timeout:g} s (gpu-exec scheduler --query-timeout)")
                    record.finish(QueryState.CANCELLED, error=message)
                    raise fl.FlightTimedOutError(message) from None
            except QueryCancelled as exc:
                record.finish(QueryState.CANCELLED, error=str(exc))
                # The service's id first: the one `gpu-exec jobs` and the scheduler's log show.
                raise fl.FlightCancelledError(f"QueryCancelled: {record.query_id}: {exc}") from None
            except BaseException as exc:  # noqa: BLE001 — every failure is the client's answer
                record.finish(QueryState.FAILED, error=one_line(exc))
                raise _flight_error(exc) from None
        if table.nbytes > self.limits.max_result_bytes:
            message = (f"the result is {table.nbytes:,} bytes ({table.num_rows:,} rows), over the server's "
                       f"limit of {self.limits.max_result_bytes:,} bytes (gpu-exec scheduler --max-result-bytes); "
                       "add a LIMIT, or write it with COPY (query) TO 'dir' (FORMAT parquet)")
            record.finish(QueryState.FAILED, error=message)
            raise fl.FlightServerError(f"ExecutionError: {message}")
        record.finish(QueryState.SUCCEEDED, rows=table.num_rows)
        return table

    def _guard(self, fn: Callable[[], Any]) -> Any:
        """Planning work (prepare, explain, schemas) with errors turned into Flight errors."""
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001
            raise _flight_error(exc) from None

    def _user(self, context: fl.ServerCallContext) -> str:
        middleware = context.get_middleware("auth")
        if isinstance(middleware, _AuthMiddleware):
            return middleware.user
        return f"anonymous ({context.peer()})"

    def _metadata(self, command: Message) -> pa.Table:
        if isinstance(command, pb.CommandGetCatalogs):
            return catalog.catalogs()
        if isinstance(command, pb.CommandGetDbSchemas):
            return catalog.db_schemas(command)
        if isinstance(command, pb.CommandGetTables):
            return catalog.tables(command, self._guard(self.session.table_infos))
        if isinstance(command, pb.CommandGetTableTypes):
            return catalog.table_types()
        if isinstance(command, pb.CommandGetSqlInfo):
            return catalog.sql_info(command, self.version)
        if isinstance(command, pb.CommandGetXdbcTypeInfo):
            return catalog.xdbc_type_info(command)
        if isinstance(command, pb.CommandGetPrimaryKeys):
            return catalog.PRIMARY_KEYS_SCHEMA.empty_table()
        if isinstance(command, (pb.CommandGetExportedKeys, pb.CommandGetImportedKeys, pb.CommandGetCrossReference)):
            return catalog.KEYS_SCHEMA.empty_table()
        raise _invalid(f"GetFlightInfo does not take {type(command).__name__}")

    def shutdown(self) -> None:
        for record in self.registry.list(running_only=True):
            record.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
        super().shutdown()


def _collect(frame: Any, record: QueryRecord) -> pa.Table:
    record.on_cancel(frame.cancel)
    return frame.to_arrow(listeners=[RecordProgress(record)])


def _substrait_label(plan: bytes) -> str:
    # What the registry (`gpu-exec jobs`) and error messages show for a plan: it has no SQL text.
    import hashlib

    return f"<Substrait plan of {len(plan):,} bytes, sha256 {hashlib.sha256(plan).hexdigest()[:12]}>"


def _record_count(statement: str, table: pa.Table) -> int:
    """DoPutUpdateResult's count: the rows a COPY / CREATE TABLE AS wrote, else the rows returned
    (none for DDL)."""
    written = rows_written(statement, table)
    return written if written is not None else table.num_rows


def _flight_error(exc: BaseException) -> Exception:
    """The Flight error a client gets for ``exc``: its kind and message (``SQLError: ...``); errors
    that are not gpu-exec's own are internal errors, logged with their traceback."""
    if isinstance(exc, fl.FlightError):
        return exc
    message = one_line(exc)
    if isinstance(exc, (SQLError, UnsupportedSQLError)):
        return _invalid(message)
    if isinstance(exc, (CatalogError, GpuExecError)):
        return fl.FlightServerError(message)
    log.exception("internal error in the query endpoint", exc_info=exc)
    return fl.FlightInternalError(f"{message} (internal error: the scheduler's log has the traceback)")


def _new_handle() -> bytes:
    import secrets

    return secrets.token_hex(16).encode()


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gpu-exec")
    except PackageNotFoundError:
        return "unknown"
