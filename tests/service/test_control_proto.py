"""The committed modules generated from ``scheduler/protocol/proto/*.proto`` are what the protos generate now."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.protocol.proto.generate import PROTO_DIR, generate, generated_names, proto_files


def test_generated_modules_are_up_to_date(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools (the dev extra) regenerates the modules")
    written = generate(tmp_path)
    assert [p.name for p in written] == [n for proto in proto_files() for n in generated_names(proto)]
    stale = [p.name for p in written
             if not (PROTO_DIR / p.name).exists() or p.read_text() != (PROTO_DIR / p.name).read_text()]
    assert not stale, (f"{stale} differ from what the protos generate: run "
                       "`python -m scheduler.protocol.proto.generate` (with grpcio-tools from the dev extra)")


def test_generated_modules_import_relatively() -> None:
    # Package-relative, so they work wherever the package is installed (protoc writes absolute ones).
    assert "from . import jobs_pb2" in (PROTO_DIR / "jobs_pb2_grpc.py").read_text()
    from scheduler.protocol.proto import jobs_pb2, jobs_pb2_grpc

    assert jobs_pb2.DESCRIPTOR.name == "scheduler/protocol/proto/jobs.proto"
    assert jobs_pb2.DESCRIPTOR.package == "gpu_exec.control.v1"
    assert hasattr(jobs_pb2_grpc, "JobsStub")
