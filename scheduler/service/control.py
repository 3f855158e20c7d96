"""The scheduler's control API over gRPC: list, inspect and cancel the queries it runs.

``gpu-exec scheduler`` serves it on its own port (default 50051; pyarrow's Flight server, which
hosts the SQL endpoint, cannot host other gRPC services) with two services:

- ``gpu_exec.control.v1.Jobs`` (``scheduler/protocol/proto/jobs.proto``) over the ``QueryRegistry`` the SQL
  endpoint records its statements in; ``gpu-exec jobs`` and ``gpu-exec cancel`` are its clients;
- the standard ``grpc.health.v1.Health``: "gpu_exec.control.v1.Jobs" is SERVING while the server
  runs (what liveness and readiness probes ask: the scheduler is up, executors may join it later);
  "" — can it run queries? — is SERVING only while at least one executor is connected (when the
  server is given a way to count them) and NOT_SERVING otherwise; both are NOT_SERVING once it
  stops. Health needs no credentials even when authentication is on, because probes cannot send
  any (Kubernetes' ``grpc:`` probe, ``grpc_health_probe``); it reveals nothing but the status.

With an enabled ``AuthConfig`` every other call must carry ``authorization: Bearer <token>`` or
basic auth (``scheduler.service.auth``), else it fails with UNAUTHENTICATED and a message saying what is
wrong. With ``tls=(cert_chain_pem, private_key_pem)`` (``scheduler.protocol.tls.load_server_tls``) the port
speaks TLS only.
"""

from __future__ import annotations

import threading
from concurrent import futures
from typing import TYPE_CHECKING, Any, Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from planner.errors import GpuExecError
from scheduler.protocol.credentials import AuthError
from scheduler.protocol.proto import jobs_pb2, jobs_pb2_grpc

if TYPE_CHECKING:
    from scheduler.service.auth import AuthConfig
    from scheduler.service.registry import QueryRecord, QueryRegistry
    from scheduler.protocol.tls import ServerTLS

__all__ = [
    "DEFAULT_CONTROL_ADDRESS",
    "JOBS_SERVICE",
    "HEALTH_SERVICE",
    "ControlServer",
    "ADMIN_USER",
    "ControlServiceError",
    "JobsServicer",
    "AuthInterceptor",
    "start_control_server",
    "job_message",
]

DEFAULT_CONTROL_ADDRESS = "0.0.0.0:50051"
JOBS_SERVICE = jobs_pb2.DESCRIPTOR.services_by_name["Jobs"].full_name  # "gpu_exec.control.v1.Jobs"
HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name  # "grpc.health.v1.Health"


class ControlServiceError(GpuExecError):
    """The control API cannot be served (its port is taken, or the address is malformed)."""


def job_message(record: QueryRecord) -> jobs_pb2.Job:
    """A registry record as the protocol's ``Job``."""
    return jobs_pb2.Job(query_id=record.query_id, sql=record.sql, user=record.user,
                        state=record.state.value, started=record.started,
                        duration_seconds=record.seconds, rows=record.rows,
                        tasks_done=record.tasks_done, tasks_total=record.tasks_total,
                        error=record.error, stopped=record.stopped.is_set())


ADMIN_USER = "admin"


class JobsServicer(jobs_pb2_grpc.JobsServicer):
    """The ``Jobs`` service over a ``QueryRegistry``. With authentication on, a user cancels only
    their own queries; the user ``admin`` (a token named admin, or a basic user admin) any."""

    def __init__(self, registry: QueryRegistry, auth: AuthConfig | None = None,
                 executors: Callable[[], int] | None = None) -> None:
        self.registry = registry
        self.auth = auth if auth is not None and auth.enabled else None
        self.executors = executors

    def ListJobs(self, request: jobs_pb2.ListJobsRequest,
                 context: grpc.ServicerContext) -> jobs_pb2.ListJobsResponse:
        records = self.registry.list(running_only=request.running_only)
        return jobs_pb2.ListJobsResponse(jobs=[job_message(r) for r in records],
                                         executors=_count(self.executors))

    def GetJob(self, request: jobs_pb2.GetJobRequest, context: grpc.ServicerContext) -> jobs_pb2.Job:
        return job_message(self._record(request.query_id, context))

    def CancelJob(self, request: jobs_pb2.CancelJobRequest,
                  context: grpc.ServicerContext) -> jobs_pb2.CancelJobResponse:
        record = self._record(request.query_id, context)
        if self.auth is not None:
            header = next((v for k, v in context.invocation_metadata() or () if k == "authorization"), None)
            user = self.auth.authenticate(header if isinstance(header, str) else None)  # the interceptor passed it
            if user not in (record.user, ADMIN_USER):
                context.abort(grpc.StatusCode.PERMISSION_DENIED,
                              f"query {record.query_id} was sent by {record.user!r}: only that user or "
                              f"{ADMIN_USER!r} may cancel it")
        cancelled = record.cancel()
        return jobs_pb2.CancelJobResponse(cancelled=cancelled, state=record.state.value)

    def _record(self, query_id: str, context: grpc.ServicerContext) -> QueryRecord:
        record = self.registry.get(query_id)
        if record is None:
            context.abort(grpc.StatusCode.NOT_FOUND,
                          f"no query {query_id!r} on this scheduler (finished queries are kept "
                          f"only up to the newest {self.registry.keep_finished})")
        assert record is not None  # abort() raises: the call ended with NOT_FOUND
        return record


class AuthInterceptor(grpc.ServerInterceptor):
    """Refuses calls whose ``authorization`` metadata ``auth`` does not accept, with
    UNAUTHENTICATED and the ``AuthError`` message; calls to ``exempt`` services always pass."""

    def __init__(self, auth: AuthConfig, exempt: tuple[str, ...] = (HEALTH_SERVICE,)) -> None:
        self.auth = auth
        self.exempt = frozenset(exempt)

    def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], Any],
                          handler_call_details: grpc.HandlerCallDetails) -> Any:
        service = handler_call_details.method.lstrip("/").partition("/")[0]  # "/pkg.Service/Method"
        if service in self.exempt:
            return continuation(handler_call_details)
        # gRPC metadata keys arrive lower-cased.
        header = next((value for key, value in handler_call_details.invocation_metadata or ()
                       if key == "authorization"), None)
        try:
            self.auth.authenticate(header if isinstance(header, str) else None)
        except AuthError as exc:
            return _refusal(continuation(handler_call_details), str(exc))
        return continuation(handler_call_details)


def _refusal(handler: grpc.RpcMethodHandler | None, message: str) -> grpc.RpcMethodHandler | None:
    """A handler of the same kind as ``handler`` (unary or streaming) that only refuses."""
    if handler is None:  # unknown method: gRPC answers UNIMPLEMENTED
        return None

    def refuse(request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    kinds = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    make = kinds[(bool(handler.request_streaming), bool(handler.response_streaming))]
    return make(refuse, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)


def _count(executors: Callable[[], int] | None) -> int:
    """The executors connected now; -1 without a cluster (queries run in the server's process)
    or when they cannot be counted."""
    if executors is None:
        return -1
    try:
        return int(executors())
    except Exception:  # noqa: BLE001 — the scheduler is going away
        return -1


class ControlServer:
    """A running control API server; ``stop()`` it (or use it as a context manager).

    With ``executors`` (a count of the connected executors), a thread keeps the overall health
    status ("") SERVING while there is at least one and NOT_SERVING while there is none, checking
    every ``HEALTH_SECONDS``."""

    HEALTH_SECONDS = 0.5

    def __init__(self, server: grpc.Server, health_servicer: health.HealthServicer, host: str,
                 port: int, executors: Callable[[], int] | None = None) -> None:
        self._server = server
        self._health = health_servicer
        self.port = port
        self.address = f"{host}:{port}"
        self._executors = executors
        self._stopping = threading.Event()
        self._watch: threading.Thread | None = None
        if executors is not None:
            self._update_health()
            self._watch = threading.Thread(target=self._watch_executors, name="gpu-exec-health", daemon=True)
            self._watch.start()

    def _update_health(self) -> None:
        serving = _count(self._executors) > 0
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        if not self._stopping.is_set():
            self._health.set("", status)

    def _watch_executors(self) -> None:
        while not self._stopping.wait(self.HEALTH_SECONDS):
            self._update_health()

    def __repr__(self) -> str:
        return f"ControlServer({self.address})"

    def stop(self, grace: float | None = 1.0) -> None:
        """Report NOT_SERVING, then stop: calls in flight get ``grace`` seconds to finish."""
        self._stopping.set()
        if self._watch is not None:
            self._watch.join()
        self._health.enter_graceful_shutdown()
        self._server.stop(grace).wait()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server stops (or ``timeout`` passes); True when it stopped."""
        return bool(self._server.wait_for_termination(timeout))

    def __enter__(self) -> ControlServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_control_server(
    registry: QueryRegistry,
    address: str = DEFAULT_CONTROL_ADDRESS,
    *,
    auth: AuthConfig | None = None,
    tls: ServerTLS | None = None,
    max_workers: int = 8,
    executors: Callable[[], int] | None = None,
) -> ControlServer:
    """Serve the control API (the ``Jobs`` and health services) in background threads.

    Parameters
    ----------
    registry
        The queries to list and cancel: the SQL endpoint's registry.
    address
        ``HOST:PORT`` to listen on; port 0 lets the OS choose (read it from ``.port``).
    auth
        The credentials calls must carry; None or a config with nothing configured: none.
        Health checks never need any.
    tls
        ``(certificate_chain_pem, private_key_pem)`` to serve TLS only; None: plaintext.
    max_workers
        Threads serving calls at once.
    executors
        Counts the executors connected to the scheduler: listed by ``ListJobs``, and the overall
        health status is NOT_SERVING while there are none. None: no cluster (always SERVING).

    Raises
    ------
    ControlServiceError
        When the address cannot be listened on (e.g. the port is taken).
    """
    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ControlServiceError(f"control API address {address!r} is not HOST:PORT")
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="gpu-exec-control"),
        interceptors=[AuthInterceptor(auth)] if auth is not None and auth.enabled else [],
        # gRPC sets SO_REUSEPORT by default on Linux: a second scheduler would then share the port
        # silently and get half the calls. Without it, the second one fails to start instead.
        options=[("grpc.so_reuseport", 0)],
    )
    health_servicer = health.HealthServicer()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set(JOBS_SERVICE, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    jobs_pb2_grpc.add_JobsServicer_to_server(JobsServicer(registry, auth, executors), server)
    bind_failed = ControlServiceError(
        f"cannot serve the control API on {address}: the port is taken (another gpu-exec "
        "scheduler?) or the host is not an address of this machine"
        + ("" if tls is None else ", or the TLS certificate and key are not a PEM pair"))
    if tls is not None:
        cert_chain, private_key = tls
        credentials = grpc.ssl_server_credentials([(private_key, cert_chain)])
    try:
        if tls is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
    except RuntimeError:  # grpcio's "Failed to bind to address ..." says no more than this
        raise bind_failed from None
    if port == 0:  # what older grpcio releases return instead of raising
        raise bind_failed
    server.start()
    return ControlServer(server, health_servicer, host, port, executors)
