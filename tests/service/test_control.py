"""The scheduler's control API (``scheduler.service.control``): health, jobs, auth, TLS, and the
``gpu-exec jobs`` / ``gpu-exec cancel`` commands against a running server.

Every server listens on a port the OS picks (``127.0.0.1:0``), so tests never collide.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator

import grpc
import pytest
import trustme
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gpu_exec.cli.main import main
from scheduler.service.auth import AuthConfig, AuthError, basic_header, bearer_header
from scheduler.service.control import JOBS_SERVICE, ControlServer, ControlServiceError, start_control_server
from scheduler.protocol.control_client import ControlClient, ControlUnavailable, JobNotFound
from scheduler.protocol.proto import jobs_pb2, jobs_pb2_grpc
from scheduler.service.registry import QueryRegistry, QueryState

TOKEN = "tok-3f9ac2d1e7b04a5f8c6d"
LONG_SQL = "select l_orderkey, sum(l_extendedprice * (1 - l_discount)) as revenue from lineitem group by l_orderkey"


class Queries:
    """A registry holding one query of each kind; ``cancelled`` lists the cancel callbacks run."""

    def __init__(self) -> None:
        self.registry = QueryRegistry()
        self.cancelled: list[str] = []
        self.succeeded = self.registry.start("select 1", "alice")
        self.succeeded.finish(QueryState.SUCCEEDED, rows=1)
        self.failed = self.registry.start("select * from missing", "bob")
        self.failed.finish(QueryState.FAILED, error="CatalogError: table 'missing' not found")
        self.running = self.registry.start(LONG_SQL, "alice")
        self.running.tasks_done, self.running.tasks_total = 3, 8
        self.running.on_cancel(lambda: self.cancelled.append(self.running.query_id))


@pytest.fixture
def queries() -> Queries:
    return Queries()


@pytest.fixture
def server(queries: Queries) -> Iterator[ControlServer]:
    with start_control_server(queries.registry, "127.0.0.1:0") as server:
        yield server


@pytest.fixture
def auth() -> AuthConfig:
    return AuthConfig.from_options(tokens=[TOKEN], users=["alice:pw"])


@pytest.fixture
def auth_server(queries: Queries, auth: AuthConfig) -> Iterator[ControlServer]:
    with start_control_server(queries.registry, "127.0.0.1:0", auth=auth) as server:
        yield server


def health_status(address: str, service: str = "") -> str:
    """Through the standard grpc.health.v1 stub, as a probe asks: no credentials."""
    with grpc.insecure_channel(address) as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


# ---- health and jobs ---------------------------------------------------------------------------


def test_health_is_serving(server: ControlServer) -> None:
    assert server.port > 0 and server.address == f"127.0.0.1:{server.port}"
    assert health_status(server.address) == "SERVING"
    assert health_status(server.address, "gpu_exec.control.v1.Jobs") == "SERVING"
    assert JOBS_SERVICE == "gpu_exec.control.v1.Jobs"
    with ControlClient(server.address) as client:
        assert client.health() == "SERVING"


def test_stopping_reports_not_serving_to_watchers(queries: Queries) -> None:
    server = start_control_server(queries.registry, "127.0.0.1:0")
    channel = grpc.insecure_channel(server.address)
    watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""), timeout=10)
    statuses = [next(watch).status]
    stopper = threading.Thread(target=server.stop, args=(0.5,))
    stopper.start()
    try:
        statuses.extend(response.status for response in watch)
    except grpc.RpcError:
        pass  # the stream ends when the grace period does
    stopper.join()
    channel.close()
    assert statuses[:2] == [health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING]


def test_list_get_and_cancel(server: ControlServer, queries: Queries) -> None:
    with ControlClient(server.address) as client:
        jobs = client.list_jobs()
        assert [(j.query_id, j.state, j.user) for j in jobs] == [
            (queries.succeeded.query_id, "succeeded", "alice"),
            (queries.failed.query_id, "failed", "bob"),
            (queries.running.query_id, "running", "alice"),
        ]
        assert [j.query_id for j in client.list_jobs(running_only=True)] == [queries.running.query_id]

        job = client.get_job(queries.running.query_id)
        assert (job.sql, job.tasks_done, job.tasks_total) == (LONG_SQL, 3, 8)
        assert job.started == pytest.approx(queries.running.started)
        assert job.duration_seconds >= 0
        failed = client.get_job(queries.failed.query_id)
        assert failed.error == "CatalogError: table 'missing' not found" and failed.rows == 0
        assert client.get_job(queries.succeeded.query_id).rows == 1

        response = client.cancel(queries.running.query_id)
        assert response.cancelled and response.state == "running"  # it stops asynchronously
        assert queries.cancelled == [queries.running.query_id]

        finished = client.cancel(queries.succeeded.query_id)
        assert not finished.cancelled and finished.state == "succeeded"
        assert queries.cancelled == [queries.running.query_id]  # no callback for an ended query


def test_unknown_query_is_not_found(server: ControlServer) -> None:
    with grpc.insecure_channel(server.address) as channel:
        stub = jobs_pb2_grpc.JobsStub(channel)
        for call, request in ((stub.GetJob, jobs_pb2.GetJobRequest(query_id="q-999999")),
                              (stub.CancelJob, jobs_pb2.CancelJobRequest(query_id="q-999999"))):
            with pytest.raises(grpc.RpcError) as info:
                call(request, timeout=5)
            assert info.value.code() is grpc.StatusCode.NOT_FOUND
            assert "q-999999" in info.value.details()
    with ControlClient(server.address) as client, pytest.raises(JobNotFound, match="no query 'q-999999'"):
        client.get_job("q-999999")


def test_a_taken_port_is_a_clear_error(server: ControlServer, queries: Queries) -> None:
    with pytest.raises(ControlServiceError, match=f"cannot serve the control API on {server.address}"):
        start_control_server(queries.registry, server.address)
    with pytest.raises(ControlServiceError, match="is not HOST:PORT"):
        start_control_server(queries.registry, "50051")


# ---- authentication ----------------------------------------------------------------------------


@pytest.mark.parametrize(("metadata", "message"), [
    ((), "missing credentials: send 'authorization: Bearer <token>' or basic auth"),
    ((("authorization", bearer_header("tok-wrong-wrong-wrong-wrong")),), "invalid token"),
    ((("authorization", basic_header("alice", "wrong")),), "wrong user or password"),
])
def test_calls_without_valid_credentials_are_unauthenticated(
        auth_server: ControlServer, metadata: tuple[tuple[str, str], ...], message: str) -> None:
    with grpc.insecure_channel(auth_server.address) as channel:
        stub = jobs_pb2_grpc.JobsStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.ListJobs(jobs_pb2.ListJobsRequest(), metadata=metadata, timeout=5)
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert info.value.details() == message


def test_valid_credentials_pass_and_health_stays_open(auth_server: ControlServer, auth: AuthConfig,
                                                      queries: Queries) -> None:
    assert health_status(auth_server.address) == "SERVING"
    assert health_status(auth_server.address, JOBS_SERVICE) == "SERVING"
    with ControlClient(auth_server.address, token=TOKEN) as client:
        assert len(client.list_jobs()) == 3
        assert client.health() == "SERVING"
    with ControlClient(auth_server.address, user="alice", password="pw") as client:
        assert client.cancel(queries.running.query_id).cancelled
    # a Flight SQL Handshake's session token is good here too: one AuthConfig serves both
    with ControlClient(auth_server.address, token=auth.issue_session_token("alice")) as client:
        assert client.get_job(queries.failed.query_id).user == "bob"
    with ControlClient(auth_server.address) as client:
        with pytest.raises(AuthError, match="refused the credentials: missing credentials"):
            client.list_jobs()


# ---- TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(queries: Queries, ca: trustme.CA) -> Iterator[ControlServer]:
    cert = ca.issue_cert("localhost", "127.0.0.1")
    chain = b"".join(pem.bytes() for pem in cert.cert_chain_pems)
    tls = (chain, cert.private_key_pem.bytes())
    with start_control_server(queries.registry, "127.0.0.1:0", tls=tls) as server:
        yield server


def test_tls_with_the_ca_works_and_plaintext_fails(tls_server: ControlServer, ca: trustme.CA) -> None:
    with ControlClient(tls_server.address, tls_root_cert=ca.cert_pem.bytes()) as client:
        assert client.health() == "SERVING"
        assert len(client.list_jobs()) == 3
    with ControlClient(tls_server.address, timeout=3) as plaintext:
        with pytest.raises(ControlUnavailable, match="cannot reach the gpu-exec control service"):
            plaintext.list_jobs()
    with ControlClient(tls_server.address, tls_root_cert=trustme.CA().cert_pem.bytes(), timeout=3) as other_ca:
        with pytest.raises(ControlUnavailable):
            other_ca.list_jobs()


# ---- gpu-exec jobs / cancel --------------------------------------------------------------------


@pytest.fixture
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich would otherwise wrap the table at 80 columns
    monkeypatch.delenv("GPU_EXEC_TOKEN", raising=False)


def test_jobs_command(server: ControlServer, queries: Queries, capsys: pytest.CaptureFixture[str],
                      wide_terminal: None) -> None:
    assert main(["jobs", "--server", server.address]) == 0
    out = capsys.readouterr().out
    for record in (queries.succeeded, queries.failed, queries.running):
        assert record.query_id in out
    assert "3/8" in out and "succeeded" in out and "alice" in out
    assert LONG_SQL[:59] + "…" in out and LONG_SQL not in out
    assert f"{queries.failed.query_id} failed: CatalogError: table 'missing' not found" in out
    assert "3 queries: 1 succeeded, 1 failed, 1 running" in out

    assert main(["jobs", "--server", server.address, "--running"]) == 0
    out = capsys.readouterr().out
    assert queries.running.query_id in out and queries.succeeded.query_id not in out


def test_cancel_command(server: ControlServer, queries: Queries, capsys: pytest.CaptureFixture[str],
                        wide_terminal: None) -> None:
    assert main(["cancel", queries.running.query_id, "--server", server.address]) == 0
    assert f"cancel requested for {queries.running.query_id}" in capsys.readouterr().out
    assert queries.cancelled == [queries.running.query_id]

    assert main(["cancel", queries.failed.query_id, "--server", server.address]) == 0
    assert "already ended (failed): nothing to cancel" in capsys.readouterr().out

    assert main(["cancel", "q-999999", "--server", server.address]) == 1
    err = capsys.readouterr().err
    assert err.startswith("gpu-exec: error: JobNotFound: no query 'q-999999'") and len(err.splitlines()) == 1


def test_commands_authenticate(auth_server: ControlServer, queries: Queries, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch, wide_terminal: None) -> None:
    assert main(["jobs", "--server", auth_server.address]) == 1
    assert "AuthError" in capsys.readouterr().err
    assert main(["jobs", "--server", auth_server.address, "--token", TOKEN]) == 0
    assert queries.running.query_id in capsys.readouterr().out
    assert main(["jobs", "--server", auth_server.address, "--user", "alice", "--password", "pw"]) == 0
    capsys.readouterr()
    monkeypatch.setenv("GPU_EXEC_TOKEN", TOKEN)
    assert main(["jobs", "--server", auth_server.address]) == 0
    assert queries.running.query_id in capsys.readouterr().out
    # the token's user did not send alice's query: only alice (or admin) may cancel it
    assert main(["cancel", queries.running.query_id, "--server", auth_server.address]) == 1
    assert "PERMISSION_DENIED" in capsys.readouterr().err
    assert main(["cancel", queries.running.query_id, "--server", auth_server.address,
                 "--user", "alice", "--password", "pw"]) == 0
    assert "cancel requested" in capsys.readouterr().out


def test_commands_over_tls(tls_server: ControlServer, ca: trustme.CA, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str], wide_terminal: None) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    assert main(["jobs", "--server", tls_server.address, "--tls-ca", str(ca_file)]) == 0
    assert "3 queries" in capsys.readouterr().out
    assert main(["jobs", "--server", tls_server.address, "--tls-ca", str(ca_file) + ".missing"]) == 1
    assert "TLSConfigError: TLS certificate file not found" in capsys.readouterr().err


def test_unreachable_server_is_one_line(queries: Queries, capsys: pytest.CaptureFixture[str]) -> None:
    stopped = start_control_server(queries.registry, "127.0.0.1:0")
    stopped.stop(0)
    assert main(["jobs", "--server", stopped.address]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    line = captured.err.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert line.startswith(f"gpu-exec: error: ControlUnavailable: cannot reach the gpu-exec control "
                           f"service at {stopped.address}: ")
    assert line.endswith("— is `gpu-exec scheduler` running?")


def test_password_without_user_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "--password", "pw"]) == 1
    assert "--password needs --user" in capsys.readouterr().err


def test_only_its_user_or_admin_cancels_a_query(queries: Queries) -> None:
    from scheduler.protocol.control_client import ControlError

    auth = AuthConfig.from_options(users=["alice:pw", "bob:pw", "admin:root-pw"])
    with start_control_server(queries.registry, "127.0.0.1:0", auth=auth) as server:
        with ControlClient(server.address, user="bob", password="pw") as bob:
            with pytest.raises(ControlError, match=f"query {queries.running.query_id} was sent by 'alice'"):
                bob.cancel(queries.running.query_id)
            assert len(bob.list_jobs()) == 3  # listing is open to every authenticated user
        assert queries.cancelled == []
        with ControlClient(server.address, user="admin", password="root-pw") as admin:
            assert admin.cancel(queries.running.query_id).cancelled
        assert queries.cancelled == [queries.running.query_id]
