"""A client of the scheduler's control API (``scheduler.service.control``): what ``gpu-exec jobs`` and
``gpu-exec cancel`` use.

gRPC failures become gpu-exec errors with one readable line: ``ControlUnavailable`` when the
service cannot be reached, ``AuthError`` when the credentials are refused, ``JobNotFound`` for an
unknown query id.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from planner.errors import GpuExecError
from scheduler.protocol.credentials import AuthError, basic_header, bearer_header
from scheduler.protocol.proto import jobs_pb2, jobs_pb2_grpc

__all__ = [
    "DEFAULT_CONTROL_TARGET",
    "ControlClient",
    "ControlError",
    "ControlUnavailable",
    "JobNotFound",
]

DEFAULT_CONTROL_TARGET = "localhost:50051"

_Response = TypeVar("_Response")


class ControlError(GpuExecError):
    """A control API call failed."""


class ControlUnavailable(ControlError):
    """The control service cannot be reached (not running, wrong address, TLS mismatch)."""


class JobNotFound(ControlError):
    """The scheduler knows no query of that id."""


class ControlClient:
    """Calls the ``Jobs`` and health services of a scheduler.

    Parameters
    ----------
    address
        The control API's ``HOST:PORT``.
    token
        A bearer token to authenticate with.
    user, password
        Basic-auth credentials instead (sent with every call: use TLS beyond a trusted network).
    tls_root_cert
        PEM certificate(s) of the CA that signed the server's certificate: connect with TLS
        (``scheduler.protocol.tls.load_root_certificate`` reads them from a file). None: plaintext.
    timeout
        Seconds each call may take, connecting included.
    """

    def __init__(self, address: str = DEFAULT_CONTROL_TARGET, *, token: str | None = None,
                 user: str | None = None, password: str | None = None,
                 tls_root_cert: bytes | None = None, timeout: float = 10.0) -> None:
        if token and (user or password):
            raise ValueError("give either a token or a user and password, not both")
        if (user is None) != (password is None):
            raise ValueError("basic auth needs both a user and a password")
        self.address = address
        self.timeout = timeout
        self._metadata: tuple[tuple[str, str], ...] = ()
        if token:
            self._metadata = (("authorization", bearer_header(token)),)
        elif user is not None and password is not None:
            self._metadata = (("authorization", basic_header(user, password)),)
        self._tls = tls_root_cert is not None
        if tls_root_cert is None:
            self._channel = grpc.insecure_channel(address)
        else:
            self._channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(tls_root_cert))
        self._jobs = jobs_pb2_grpc.JobsStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def __repr__(self) -> str:
        return f"ControlClient({self.address!r})"

    def list_jobs(self, running_only: bool = False) -> list[jobs_pb2.Job]:
        """The queries the scheduler remembers, oldest first (only running ones if asked)."""
        return list(self.listing(running_only).jobs)

    def listing(self, running_only: bool = False) -> jobs_pb2.ListJobsResponse:
        """The queries (``.jobs``) and the executors connected now (``.executors``; -1 for a
        server without a cluster)."""
        return self._call(self._jobs.ListJobs, jobs_pb2.ListJobsRequest(running_only=running_only))

    def executors(self) -> int:
        """The executors connected to the scheduler now (-1: a server without a cluster)."""
        return int(self.listing(running_only=True).executors)

    def get_job(self, query_id: str) -> jobs_pb2.Job:
        """One query; ``JobNotFound`` when the scheduler does not know the id."""
        return self._call(self._jobs.GetJob, jobs_pb2.GetJobRequest(query_id=query_id))

    def cancel(self, query_id: str) -> jobs_pb2.CancelJobResponse:
        """Ask a query to stop: ``.cancelled`` is False when it had already ended (``.state``)."""
        return self._call(self._jobs.CancelJob, jobs_pb2.CancelJobRequest(query_id=query_id))

    def health(self, service: str = "") -> str:
        """The health status of the server ("") or of one service: "SERVING", "NOT_SERVING", ...
        Sent without credentials, like a probe's."""
        response = self._call(self._health.Check, health_pb2.HealthCheckRequest(service=service),
                              metadata=())
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, method: Callable[..., _Response], request: Any,
              metadata: tuple[tuple[str, str], ...] | None = None) -> _Response:
        try:
            return method(request, metadata=self._metadata if metadata is None else metadata,
                          timeout=self.timeout)
        except grpc.RpcError as exc:
            raise self._error(exc) from None

    def _unavailable_hint(self, details: str) -> str:
        # gRPC reports a TLS mismatch as an unreachable server: say which side to check.
        if "handshake" in details.lower():
            return "does the server speak TLS, with a certificate signed by the CA given?"
        if not self._tls and "socket closed" in details.lower():
            return "is `gpu-exec scheduler` running, and without TLS (else give its CA: --tls-ca)?"
        return "is `gpu-exec scheduler` running?"

    def _error(self, exc: grpc.RpcError) -> GpuExecError:
        code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
        details = (exc.details() if isinstance(exc, grpc.Call) else None) or str(exc)
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return ControlUnavailable(f"cannot reach the gpu-exec control service at "
                                      f"{self.address}: {details} — {self._unavailable_hint(details)}")
        if code is grpc.StatusCode.UNAUTHENTICATED:
            return AuthError(f"the control service at {self.address} refused the credentials: "
                             f"{details}")
        if code is grpc.StatusCode.NOT_FOUND:
            return JobNotFound(details)
        return ControlError(f"control service at {self.address}: {code.name}: {details}")
