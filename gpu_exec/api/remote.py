"""The remote session: ``gpu_exec.connect("grpc://host:50050")`` talks Flight SQL to a
``gpu-exec scheduler`` and offers the embedded session's API.

    >>> s = gpu_exec.connect("grpc://scheduler:50050", token="...")
    >>> s.register_parquet("lineitem", "/data/tpch/lineitem.parquet")   # a path the server sees
    >>> df = s.sql("select l_returnflag, count(*) from lineitem group by 1")
    >>> df.schema            # known before running: the server planned it
    >>> df.to_arrow()        # runs it on the cluster; big results arrive as several streams
    >>> for batch in df.execute_stream(): ...

Tables live in the server's catalog, shared by every client. Queries (SELECT / WITH / VALUES) are
planned by ``sql()`` — SQL errors are raised there — and run by a terminal method; any other
statement (CREATE EXTERNAL TABLE, DROP TABLE, COPY, CREATE TABLE AS, SHOW TABLES) runs at once.
Errors come back as the embedded session's exception classes (``SQLError``, ``CatalogError``, ...).
"""

from __future__ import annotations

import json
import re
import uuid
import weakref
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import pyarrow as pa
import pyarrow.flight as fl

from gpu_exec.api.result_conversions import ResultConversions
from gpu_exec.api.sql_scripts import is_query
from planner.errors import CatalogError, ExecutionError, GpuExecError, SQLError, UnsupportedSQLError

if TYPE_CHECKING:
    import os


__all__ = ["RemoteSession", "RemoteDataFrame", "connect_remote", "RemoteError"]

_ERROR_KINDS: dict[str, type[GpuExecError]] = {
    "SQLError": SQLError,
    "CatalogError": CatalogError,
    "ExecutionError": ExecutionError,
}
_KIND = re.compile(r"\b([A-Za-z]+Error|QueryCancelled): (.*)", re.DOTALL)


class RemoteError(GpuExecError):
    """The query endpoint cannot be reached, refused the credentials, or failed."""


def connect_remote(url: str, *, token: str | None = None, user: str | None = None, password: str | None = None,
                   tls_root_certs: bytes | str | os.PathLike[str] | None = None,
                   timeout: float | None = None) -> RemoteSession:
    """A session on the ``gpu-exec scheduler`` at ``url`` (``grpc://HOST:PORT``, or
    ``grpc+tls://HOST:PORT`` for TLS, verified with ``tls_root_certs`` — PEM bytes or a file — or
    the system's roots). Authenticate with a bearer ``token`` or ``user`` / ``password``.
    ``timeout``: seconds any one call may take (default: none)."""
    return RemoteSession(url, token=token, user=user, password=password, tls_root_certs=tls_root_certs,
                         timeout=timeout)


class RemoteSession:
    """A connection to a gpu-exec query endpoint with the embedded ``Session``'s API."""

    def __init__(self, url: str, *, token: str | None = None, user: str | None = None,
                 password: str | None = None, tls_root_certs: bytes | str | os.PathLike[str] | None = None,
                 timeout: float | None = None) -> None:
        from scheduler.protocol.tls import load_root_certificate

        if not url.startswith(("grpc://", "grpc+tcp://", "grpc+tls://")):
            raise RemoteError(f"a query endpoint's address starts with grpc:// or grpc+tls://, not {url!r}")
        if tls_root_certs is not None and not isinstance(tls_root_certs, bytes):
            tls_root_certs = load_root_certificate(tls_root_certs)  # names a missing or non-PEM file
        self.url = url
        self._timeout = timeout
        self._frames: weakref.WeakSet[RemoteDataFrame] = weakref.WeakSet()  # their prepared statements
        options: dict[str, Any] = {}
        if tls_root_certs is not None:
            options["tls_root_certs"] = tls_root_certs
        self._client = fl.FlightClient(url, **options)
        self._headers: list[tuple[bytes, bytes]] = []
        try:
            if token is not None:
                self._headers = [(b"authorization", f"Bearer {token}".encode())]
            elif user is not None:
                header = self._client.authenticate_basic_token(user, password or "", self._options())
                self._headers = [header]
            # Fail now, not at the first query, when the endpoint is unreachable or refuses us.
            self._client.list_actions(self._options())
        except fl.FlightUnauthenticatedError as exc:
            self._client.close()
            raise RemoteError(f"the query endpoint at {url} refused the credentials: {_message(exc)}") from None
        except fl.FlightUnavailableError as exc:
            self._client.close()
            raise RemoteError(f"cannot reach the gpu-exec query endpoint at {url}: {_message(exc)} "
                              "— is `gpu-exec scheduler` running?") from None

    def _options(self, tag: str | None = None) -> fl.FlightCallOptions:
        from scheduler.protocol.flight_sql_messages import TAG_HEADER

        headers = self._headers + ([(TAG_HEADER.encode(), tag.encode())] if tag else [])
        return fl.FlightCallOptions(headers=headers, timeout=self._timeout)

    # ---- tables -------------------------------------------------------------------------------
    def register_parquet(self, name: str, path: str | os.PathLike[str]) -> None:
        """Register a Parquet file or directory *on the server* (the path is the server's and its
        executors') as table ``name``, replacing a table of that name."""
        self._register(name, path, "PARQUET", "")

    def register_udf(self, name: str, *args: object, **kwargs: object) -> None:
        """Refused: a Python function would have to run inside the server, and the query service
        does not take code from its clients."""
        raise GpuExecError(f"register_udf({name!r}): Python UDFs run in an embedded session "
                           "(gpu_exec.connect() or connect(workers=N) / connect(cluster='tcp://...')); "
                           "the Flight SQL service does not run code sent by clients")

    def register_csv(self, name: str, path: str | os.PathLike[str]) -> None:
        """Register a CSV file with a header line (or a directory of them) on the server."""
        self._register(name, path, "CSV", " OPTIONS ('format.has_header' 'true')")

    def _register(self, name: str, path: str | os.PathLike[str], kind: str, options: str) -> None:
        import os

        quoted = _identifier(name)
        location = os.fspath(path).replace("'", "''")
        self._execute(f"CREATE OR REPLACE EXTERNAL TABLE {quoted} STORED AS {kind} LOCATION '{location}'{options}")

    def table(self, name: str) -> RemoteDataFrame:
        """A query over the server's table or view ``name`` (all its rows)."""
        return self.sql(f"SELECT * FROM {_identifier(name)}")

    def tables(self) -> list[str]:
        """The names of the server's tables and views."""
        from scheduler.protocol.flight_sql_messages import pack
        from scheduler.protocol.proto import flight_sql_pb2 as pb

        table = self._fetch(fl.FlightDescriptor.for_command(pack(pb.CommandGetTables())))
        return sorted(table.column("table_name").to_pylist())

    # ---- queries ------------------------------------------------------------------------------
    def sql(self, query: str, params: Sequence[Any] | None = None) -> RemoteDataFrame:
        """A lazy query (planned now on the server: SQL errors are raised here), or the result of
        a statement that is not a query (run now). ``params`` fill ``$1``, ``$2``, ..."""
        if not is_query(query):
            if params:
                raise SQLError("parameters are only taken by queries (SELECT / WITH / VALUES)")
            return RemoteDataFrame(self, query, None, result=self._execute(query))
        return RemoteDataFrame(self, query, list(params) if params is not None else None)

    def sql_substrait(self, plan_bytes: bytes) -> RemoteDataFrame:
        """A lazy query of a serialized Substrait plan, planned now on the server (its errors are
        raised here), as the embedded ``Session.sql_substrait``."""
        if not isinstance(plan_bytes, (bytes, bytearray, memoryview)):
            raise SQLError(f"sql_substrait takes a serialized Substrait plan (bytes), not {type(plan_bytes).__name__}")
        plan = bytes(plan_bytes)
        return RemoteDataFrame(self, f"<Substrait plan of {len(plan):,} bytes>", None, plan=plan)

    def _execute(self, query: str) -> pa.Table:
        from scheduler.protocol.flight_sql_messages import pack
        from scheduler.protocol.proto import flight_sql_pb2 as pb

        return self._fetch(fl.FlightDescriptor.for_command(pack(pb.CommandStatementQuery(query=query))))

    def _fetch(self, descriptor: fl.FlightDescriptor) -> pa.Table:
        info = self._call(self._client.get_flight_info, descriptor)
        batches = [b for b in self._stream(info)]
        return pa.Table.from_batches(batches, schema=info.schema)

    def _stream(self, info: fl.FlightInfo) -> Iterator[pa.RecordBatch]:
        """Each endpoint's record batches, in order, as they arrive."""
        for endpoint in info.endpoints:
            reader = self._call(self._client.do_get, endpoint.ticket)
            try:
                for chunk in reader:
                    if chunk.data is not None:
                        yield chunk.data
            except fl.FlightError as exc:
                raise _error(exc) from None
            finally:
                reader.cancel()  # a consumer that stops early frees the server's stream

    def _call(self, method: Any, *args: Any, tag: str | None = None) -> Any:
        """A Flight call with the session's headers; Flight errors become gpu-exec's errors."""
        try:
            return method(*args, self._options(tag))
        except fl.FlightError as exc:
            raise _error(exc) from None

    def _action(self, action: fl.Action) -> list[bytes]:
        """The result bodies of a DoAction call (its errors raise while iterating)."""
        try:
            return [r.body.to_pybytes() for r in self._client.do_action(action, self._options())]
        except fl.FlightError as exc:
            raise _error(exc) from None

    def close(self) -> None:
        """Close the server's prepared statements of this session's DataFrames, and the connection."""
        for frame in list(self._frames):
            frame.close()
        self._client.close()

    def __enter__(self) -> RemoteSession:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class RemoteDataFrame(ResultConversions):
    """A query on the server; terminal methods run it there and fetch its rows."""

    def __init__(self, session: RemoteSession, query: str, params: list[Any] | None, *,
                 result: pa.Table | None = None, plan: bytes | None = None) -> None:
        self._session = session
        self.query = query  # for a Substrait plan, a label
        self._plan = plan
        self._params = params
        self._result = result
        self._handle: bytes | None = None
        self._tag: str | None = None  # while the server runs it
        self._schema = result.schema if result is not None else None
        if result is None:
            self._prepare()
            session._frames.add(self)

    def _prepare(self) -> None:
        from scheduler.protocol.flight_sql_messages import pack, unpack
        from scheduler.protocol.proto import flight_sql_pb2 as pb

        if self._plan is not None:
            # The release is left empty: the plan's own version field says which it is.
            request = pb.ActionCreatePreparedSubstraitPlanRequest(plan=pb.SubstraitPlan(plan=self._plan))
            action = fl.Action("CreatePreparedSubstraitPlan", pack(request))
        else:
            action = fl.Action("CreatePreparedStatement", pack(pb.ActionCreatePreparedStatementRequest(query=self.query)))
        answer = unpack(self._session._action(action)[0])
        assert isinstance(answer, pb.ActionCreatePreparedStatementResult)
        self._handle = answer.prepared_statement_handle
        self._schema = pa.ipc.read_schema(pa.py_buffer(answer.dataset_schema))
        expected = len(pa.ipc.read_schema(pa.py_buffer(answer.parameter_schema))) if answer.parameter_schema else 0
        given = len(self._params or [])
        if given != expected:
            raise SQLError(f"the query has {expected} parameter(s) ($1, $2, ...) but {given} were given")
        if self._params:
            self._bind()

    def _bind(self) -> None:
        from scheduler.protocol.flight_sql_messages import pack
        from scheduler.protocol.proto import flight_sql_pb2 as pb

        assert self._handle is not None and self._params is not None
        values = pa.table({str(i + 1): pa.array([v]) for i, v in enumerate(self._params)})
        descriptor = fl.FlightDescriptor.for_command(pack(pb.CommandPreparedStatementQuery(
            prepared_statement_handle=self._handle)))
        writer, reader = self._session._call(self._session._client.do_put, descriptor, values.schema)
        try:
            writer.write_table(values)
            writer.done_writing()
            reader.read()
        except fl.FlightError as exc:
            raise _error(exc) from None
        finally:
            writer.close()

    @property
    def schema(self) -> pa.Schema:
        """The result's schema, known without running."""
        assert self._schema is not None
        return self._schema

    def columns(self) -> list[str]:
        return list(self.schema.names)

    def _info(self) -> fl.FlightInfo:
        from scheduler.protocol.flight_sql_messages import pack
        from scheduler.protocol.proto import flight_sql_pb2 as pb

        assert self._handle is not None
        command = pb.CommandPreparedStatementQuery(prepared_statement_handle=self._handle)
        self._tag = uuid.uuid4().hex  # names this run, for cancel()
        try:
            return self._session._call(self._session._client.get_flight_info,
                                       fl.FlightDescriptor.for_command(pack(command)), tag=self._tag)
        finally:
            self._tag = None

    def cancel(self) -> None:
        """Cancel this query while it runs on the server (from another thread): the running
        ``to_arrow()`` / ``execute_stream()`` raises QueryCancelled."""
        from scheduler.protocol.flight_sql_messages import CANCEL_ACTION

        tag = self._tag
        if tag is not None:
            self._session._action(fl.Action(CANCEL_ACTION, tag.encode()))

    def execute_stream(self) -> Iterator[pa.RecordBatch]:
        """Run the query and iterate over its record batches as they arrive from the server."""
        if self._result is not None:
            yield from self._result.to_batches()
            return
        yield from self._session._stream(self._info())

    def to_arrow(self) -> pa.Table:
        """Run the query on the server and return all its rows."""
        if self._result is not None:
            return self._result
        return pa.Table.from_batches(list(self.execute_stream()), schema=self.schema)

    def collect(self) -> list[pa.RecordBatch]:
        return list(self.execute_stream())

    def explain(self, device: str | None = None) -> str:
        """The server's physical plan, each operator with where it runs (see DataFrame.explain)."""
        from scheduler.protocol.flight_sql_messages import EXPLAIN_ACTION

        if self._plan is not None:
            raise GpuExecError("explain() of a Substrait plan runs in an embedded session "
                               "(Session.sql_substrait(plan).explain()); the service explains SQL")
        body = json.dumps({"sql": self.query, "device": device}).encode()
        return self._session._action(fl.Action(EXPLAIN_ACTION, body))[0].decode()

    def close(self) -> None:
        """Forget the server's prepared statement (also done when the session closes)."""
        from scheduler.protocol.flight_sql_messages import pack
        from scheduler.protocol.proto import flight_sql_pb2 as pb

        if self._handle is not None:
            request = pb.ActionClosePreparedStatementRequest(prepared_statement_handle=self._handle)
            self._handle = None
            try:
                self._session._action(fl.Action("ClosePreparedStatement", pack(request)))
            except GpuExecError:
                pass  # the server forgets unused statements by itself

    def __repr__(self) -> str:
        return f"RemoteDataFrame[{', '.join(f'{f.name}: {f.type}' for f in self.schema)}]"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _message(exc: BaseException) -> str:
    """A Flight error's message without the gRPC detail suffix."""
    text = str(exc)
    return text.split(". Detail:")[0].strip()


def _error(exc: fl.FlightError) -> GpuExecError:
    """The embedded session's exception for the server's error message ``Kind: message``."""
    from scheduler.errors import QueryCancelled

    text = _message(exc)
    match = _KIND.search(text)
    if match:
        kind, message = match.group(1), match.group(2)
        if kind == "UnsupportedSQLError":
            return UnsupportedSQLError(message.split("; "))
        if kind == "QueryCancelled":
            return QueryCancelled(message)
        return _ERROR_KINDS.get(kind, RemoteError)(message)
    if isinstance(exc, fl.FlightUnauthenticatedError):
        return RemoteError(f"the query endpoint refused the credentials: {text}")
    if isinstance(exc, fl.FlightUnavailableError):
        return RemoteError(f"the query endpoint is unavailable: {text}")
    return RemoteError(text)
