"""Closed by default: an executor listens only on its ``--host`` (by default the address it reaches
the scheduler from: 127.0.0.1 here), its workers' HTTP port answers only ``/health``, its memory
limit is its share of the node, and a cluster started with ``--tls-*`` files speaks mutual TLS on
every Dask connection, so a client without a certificate signed by the cluster's CA cannot
connect — to the scheduler or to an executor.

Real processes on localhost.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import gpu_exec
from gpu_exec.testing.processes import ProcessCluster, process_tree, wait_until


def _listening(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every socket listening in the process and its children."""
    out = set()
    for process in process_tree(pid):
        for connection in process.net_connections(kind="inet"):
            if connection.status == "LISTEN":
                out.add((connection.laddr.ip, connection.laddr.port))
    return out


def test_executors_listen_only_on_their_host_and_share_the_node(tmp_path: Path) -> None:
    """Two executors, one with ``--host 127.0.0.1``, one with the defaults; on a node of their own
    (a temporary directory of their own, where executors count each other)."""
    from distributed.system import MEMORY_LIMIT

    node = tmp_path / "node"
    node.mkdir()
    cluster = ProcessCluster(tmp_path, executors=0, env={"TMPDIR": str(node)})
    try:
        explicit = cluster.start_executor("--host", "127.0.0.1")
        default = cluster.start_executor()  # the scheduler is on 127.0.0.1: so is the executor
        cluster.wait_for_executors(2)
        client = cluster.client()
        workers = client.scheduler_info()["workers"]
        for process in (explicit, default):
            # the nanny's and the worker's comms, the worker's HTTP port: nothing on other interfaces
            sockets = wait_until(lambda p=process: _listening(p.pid) if len(_listening(p.pid)) >= 3 else None,
                                 60, "the executor's listening sockets")
            assert {address for address, _ in sockets} == {"127.0.0.1"}, sockets
        for address, info in workers.items():
            assert address.startswith("tcp://127.0.0.1:")
            http = info["services"]["dashboard"]
            # No dashboard, no metrics: the HTTP port Dask always opens answers only /health.
            with urllib.request.urlopen(f"http://127.0.0.1:{http}/health", timeout=10) as response:
                assert response.read() == b"ok"
            for path in ("/metrics", "/status", "/info/main/workers.html"):
                with pytest.raises(urllib.error.HTTPError) as refused:
                    urllib.request.urlopen(f"http://127.0.0.1:{http}{path}", timeout=10)
                assert refused.value.code == 404

        # --memory-limit auto: the node's memory divided among the executors running on it, and
        # re-divided as they start and stop (the nanny's limit, which it kills at, and the worker's).
        def limits() -> list[int]:
            try:
                return sorted(client.run(lambda dask_worker: dask_worker.memory_manager.memory_limit).values())
            except Exception:  # noqa: BLE001 — a worker going away under the call: ask again
                return []

        wait_until(lambda: limits() == [MEMORY_LIMIT // 2] * 2, 60, f"both executors at half of {MEMORY_LIMIT}")
        cluster.kill_executor(1)
        wait_until(lambda: limits() == [MEMORY_LIMIT], 60, "the remaining executor taking the whole node")
    finally:
        cluster.stop()


def _certificates(tmp: Path) -> dict[str, Any]:
    import trustme

    ca, stranger_ca = trustme.CA(), trustme.CA()
    files: dict[str, Any] = {}

    def issue(issuer: Any, name: str) -> tuple[str, str]:
        certificate = issuer.issue_cert("localhost", "127.0.0.1")
        cert, key = tmp / f"{name}.pem", tmp / f"{name}.key"
        certificate.cert_chain_pems[0].write_to_path(str(cert))
        for blob in certificate.cert_chain_pems[1:]:
            blob.write_to_path(str(cert), append=True)
        certificate.private_key_pem.write_to_path(str(key))
        return str(cert), str(key)

    for name in ("scheduler", "executor", "client"):
        files[name] = issue(ca, name)
    files["stranger"] = issue(stranger_ca, "stranger")
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    stranger_ca.cert_pem.write_to_path(str(tmp / "stranger-ca.pem"))
    files["ca"], files["stranger-ca"] = str(tmp / "ca.pem"), str(tmp / "stranger-ca.pem")
    return files


def _refused(address: str, security: Any) -> str:
    """The error a Dask client with ``security`` (None: none at all) gets from ``address``."""
    import gc

    from distributed import Client

    try:
        client = Client(address, timeout=3, security=security, set_as_default=False)
    except Exception as exc:  # noqa: BLE001 — the test's subject
        message = f"{type(exc).__name__}: {exc}"
    else:
        client.close()
        raise AssertionError(f"a client with {security!r} connected to {address}")
    # The failed Client is finalized now: left to a later garbage collection, its __del__ can run
    # inside the next Client's start and wait for the lock that start holds (a Dask deadlock).
    gc.collect()
    return message


def test_a_client_without_the_certificate_cannot_connect(tmp_path: Path, tpch_data: dict[str, str]) -> None:
    from distributed.comm import connect
    from distributed.security import Security

    files = _certificates(tmp_path)
    ca = files["ca"]
    mine = Security(require_encryption=True, tls_ca_file=ca, tls_client_cert=files["client"][0],
                    tls_client_key=files["client"][1])
    cluster = ProcessCluster(
        tmp_path, executors=1, scheme="tls", dask_security=mine,
        scheduler_args=["--tls-ca", ca, "--tls-cert", files["scheduler"][0], "--tls-key", files["scheduler"][1]],
        executor_args=["--tls-ca", ca, "--tls-cert", files["executor"][0], "--tls-key", files["executor"][1]])
    try:
        cluster.wait_for_executors(1)  # the executor got in, with its certificate
        # The cluster works: a query through the (TLS) query endpoint runs on the executor.
        with gpu_exec.connect(f"grpc+tls://localhost:{cluster.flight_port}", tls_root_certs=ca) as session:
            session.register_parquet("region", tpch_data["region"])
            assert session.sql("select count(*) as n from region").to_pylist() == [{"n": 5}]
        (worker,) = cluster.client().scheduler_info()["workers"]
        assert worker.startswith("tls://127.0.0.1:")
        stranger = Security(require_encryption=True, tls_ca_file=files["stranger-ca"],
                            tls_client_cert=files["stranger"][0], tls_client_key=files["stranger"][1])
        address = cluster.dask_address
        # No certificate, plaintext, a certificate of another CA: all refused by the scheduler ...
        _refused(address, None)
        _refused(address.replace("tls://", "tcp://"), None)
        _refused(address, stranger)
        # ... and by the executor itself.
        for security in (stranger, None):
            args = security.get_connection_args("client") if security is not None else {}
            with pytest.raises(Exception):  # noqa: B017 — TLS errors differ by OpenSSL version
                asyncio.run(connect(worker, timeout=3, **args))
        assert len(cluster.client().scheduler_info()["workers"]) == 1  # the strangers changed nothing
    finally:
        cluster.stop()
