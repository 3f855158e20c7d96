"""The deployment examples of scheduler/deploy/, checked without Docker, Slurm or Kubernetes.

- Kubernetes: every manifest parses; the containers' commands parse with gpu-exec's own argument
  parser (a renamed flag breaks this test); ports, probes, addresses, Secret and ConfigMap
  references agree with each other and with the CLI's defaults.
- Docker: the files the Dockerfiles copy are enough to build the package.
- Slurm: the sbatch script runs end to end on this machine with stand-ins for srun and scontrol
  (scheduler/deploy/slurm/local/): a scheduler, two executors, a job, and nothing left running.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import pyarrow.parquet as pq
import pytest
import yaml

from gpu_exec.cli.main import build_parser
from gpu_exec.testing.compare import compare_tables
from gpu_exec.api.sql_scripts import datafusion_context, split_statements_with_lines

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "scheduler" / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
SBATCH = DEPLOY / "slurm" / "gpu-exec.sbatch"
SERVICE = "gpu-exec-scheduler"


# ---- Kubernetes ------------------------------------------------------------------------------


def _manifests() -> dict[str, list[dict[str, Any]]]:
    """Each manifest file's documents."""
    return {path.name: [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
            for path in sorted(KUBERNETES.glob("*.yaml"))}


def _objects() -> dict[tuple[str, str], dict[str, Any]]:
    """Every object of every manifest but the kustomization, by (kind, name)."""
    return {(doc["kind"], doc["metadata"]["name"]): doc
            for name, docs in _manifests().items() if name != "kustomization.yaml" for doc in docs}


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def _parse_command(command: list[str]) -> Any:
    """gpu-exec's own parser on a container's command: an unknown or renamed flag fails here."""
    assert command[0] == "gpu-exec", command
    try:
        return build_parser().parse_args(command[1:])
    except SystemExit:
        pytest.fail(f"gpu-exec does not accept this command: {command}", pytrace=False)


def _container(kind: str, name: str) -> dict[str, Any]:
    return _objects()[(kind, name)]["spec"]["template"]["spec"]["containers"][0]


def _service_ports() -> dict[str, int]:
    return {p["name"]: p["port"] for p in _objects()[("Service", SERVICE)]["spec"]["ports"]}


def test_every_manifest_parses_and_the_kustomization_lists_existing_files() -> None:
    manifests = _manifests()
    assert {"kustomization.yaml", "scheduler.yaml", "executor-gpu.yaml", "executor-cpu.yaml",
            "secret.yaml", "job.yaml"} <= set(manifests)
    for name, docs in manifests.items():
        assert docs, f"{name} is empty"
        for doc in docs:
            assert {"apiVersion", "kind"} <= set(doc), f"{name}: {doc}"
            if doc["kind"] != "Kustomization":
                assert doc["metadata"]["name"], name
    kustomization = manifests["kustomization.yaml"][0]
    for resource in kustomization["resources"]:
        assert (KUBERNETES / resource).is_file(), resource
    # the images the manifests name are the ones the kustomization maps to a registry
    images = {c["image"] for obj in _objects().values() if obj["kind"] in ("Deployment", "Job")
              for c in _containers(obj)}
    assert images == {image["name"] for image in kustomization["images"]}


def test_scheduler_ports_agree_with_the_service_the_probes_and_the_cli_defaults() -> None:
    container = _container("Deployment", SERVICE)
    args = _parse_command(container["command"])
    assert args.handler.__name__ == "scheduler_command"
    defaults = build_parser().parse_args(["scheduler"])
    expected = {"dask": defaults.port, "flight-sql": defaults.flight_port, "control": defaults.control_port}
    assert expected == {"dask": 8786, "flight-sql": 50050, "control": 50051}
    assert {"dask": args.port, "flight-sql": args.flight_port, "control": args.control_port} == expected
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == expected
    assert _service_ports() == expected
    service = _objects()[("Service", SERVICE)]
    assert all(p["targetPort"] in expected for p in service["spec"]["ports"])
    template_labels = _objects()[("Deployment", SERVICE)]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= template_labels.items()
    # the health service is on the control port, and answers probes without credentials
    # — for the Jobs service, SERVING while the scheduler is up ("" waits for an executor, and the
    # executors reach the scheduler through the Service that readiness gates)
    from scheduler.service.control import JOBS_SERVICE

    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"]["port"] == args.control_port
        assert container[probe]["grpc"]["service"] == JOBS_SERVICE


def test_executors_reach_the_scheduler_service_and_ask_for_their_device() -> None:
    dask_port = _service_ports()["dask"]
    for name, device in (("gpu-exec-executor-gpu", "gpu"), ("gpu-exec-executor-cpu", "cpu")):
        container = _container("Deployment", name)
        args = _parse_command(container["command"])
        assert args.handler.__name__ == "run_executor"
        address = urlsplit(args.scheduler)
        assert (address.scheme, address.hostname, address.port) == ("tcp", SERVICE, dask_port)
        assert args.device == device
        gpus = container["resources"].get("limits", {}).get("nvidia.com/gpu")
        assert gpus == (1 if device == "gpu" else None)
        assert container["image"] == f"gpu-exec-{device}"


def test_the_job_runs_its_configmap_file_through_the_query_service() -> None:
    objects = _objects()
    job = objects[("Job", "gpu-exec-job")]
    spec = job["spec"]["template"]["spec"]
    container = spec["containers"][0]
    args = _parse_command(container["command"])
    assert args.handler.__name__ == "run_job"
    address = urlsplit(args.cluster)
    assert (address.scheme, address.hostname, address.port) == ("grpc", SERVICE, _service_ports()["flight-sql"])
    # the job file is a key of the ConfigMap mounted where the command looks for it
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    job_dir, job_file = os.path.split(args.job)
    (volume,) = [name for name, path in mounts.items() if path == job_dir]
    config_map = objects[("ConfigMap", volumes[volume]["configMap"]["name"])]
    statements = split_statements_with_lines(config_map["data"][job_file])
    assert statements[0].text.startswith("CREATE EXTERNAL TABLE")
    assert any(s.text.startswith("COPY") for s in statements)
    # the init container waits for no more workers than the GPU executors deployment runs
    wait = "\n".join(spec["initContainers"][0]["command"])
    waited = int(re.search(r"wait_for_workers\((\d+)", wait).group(1))
    assert waited <= objects[("Deployment", "gpu-exec-executor-gpu")]["spec"]["replicas"]
    assert f"tcp://{SERVICE}:{_service_ports()['dask']}" in wait
    assert job["spec"]["backoffLimit"] == 0 and spec["restartPolicy"] == "Never"


def test_the_token_comes_from_the_secret_on_both_sides() -> None:
    objects = _objects()
    secret = objects[("Secret", "gpu-exec-auth")]
    keys = set(secret.get("stringData", {})) | set(secret.get("data", {}))

    def env_refs(container: dict[str, Any]) -> dict[str, tuple[str, str]]:
        return {e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
                for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}

    scheduler_env = env_refs(_container("Deployment", SERVICE))
    job_env = env_refs(_container("Job", "gpu-exec-job"))
    # the names scheduler/service/auth.py and `gpu-exec run` read
    assert scheduler_env["GPU_EXEC_AUTH_TOKENS"] == job_env["GPU_EXEC_TOKEN"] == ("gpu-exec-auth", "token")
    assert "token" in keys
    from scheduler.service.auth import MIN_TOKEN_LENGTH

    assert len(secret["stringData"]["token"]) >= MIN_TOKEN_LENGTH


def test_every_volume_claim_and_mount_is_declared() -> None:
    objects = _objects()
    for obj in objects.values():
        if obj["kind"] not in ("Deployment", "Job"):
            continue
        spec = obj["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in _containers(obj):
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes, (obj["metadata"]["name"], mount)
        for volume in volumes.values():
            if "persistentVolumeClaim" in volume:
                assert ("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]) in objects


def test_kubectl_builds_the_kustomization() -> None:
    """``kubectl kustomize`` works offline; apply --dry-run would need a cluster."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    done = subprocess.run([kubectl, "kustomize", str(KUBERNETES)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    kinds = sorted(doc["kind"] for doc in yaml.safe_load_all(done.stdout))
    assert kinds == ["ConfigMap", "Deployment", "Deployment", "Job", "PersistentVolumeClaim", "Secret", "Service"]


# ---- Docker ----------------------------------------------------------------------------------


def _copied_paths(dockerfile: Path) -> list[str]:
    """The repository paths a Dockerfile's COPY instructions take from the build context."""
    paths: list[str] = []
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY "):
            paths += [p.rstrip("/") for p in line.split()[1:-1] if not p.startswith("--")]
    return paths


@pytest.mark.parametrize("name", ["Dockerfile.cpu", "Dockerfile.gpu"])
def test_dockerfile_copies_every_package_and_its_ignore_file_lets_them_through(name: str) -> None:
    import tomllib

    dockerfile = DEPLOY / "docker" / name
    copied = _copied_paths(dockerfile)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages | {"pyproject.toml", "README.md"} == set(copied)
    ignored = (DEPLOY / "docker" / f"{name}.dockerignore").read_text().splitlines()
    assert "*" in ignored and all(f"!{p}" in ignored or f"!{p}/" in ignored for p in copied)
    install = ".[gpu]" if name.endswith("gpu") else "install ."
    assert install in dockerfile.read_text()


def test_the_docker_build_context_is_enough_to_build_the_package(tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    for path in _copied_paths(DEPLOY / "docker" / "Dockerfile.cpu"):
        source = REPO / path
        if source.is_dir():
            shutil.copytree(source, context / path, ignore=shutil.ignore_patterns("__pycache__", "deploy"))
        else:
            shutil.copy(source, context / path)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path / "wheel"), str(context)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "gpu_exec/cli/batch.py" in names and "gpu_exec/testing/tpch_queries/q01.sql" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "gpu-exec = gpu_exec.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


# ---- Slurm -----------------------------------------------------------------------------------


def test_the_sbatch_script_and_the_stand_ins_are_valid_bash() -> None:
    for script in (SBATCH, DEPLOY / "slurm" / "local" / "srun", DEPLOY / "slurm" / "local" / "scontrol"):
        done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert done.returncode == 0, f"{script}: {done.stderr}"


def test_the_sbatch_defaults_are_the_cli_defaults() -> None:
    text = SBATCH.read_text()
    defaults = build_parser().parse_args(["scheduler"])
    for variable, port in (("DASK_PORT", defaults.port), ("FLIGHT_PORT", defaults.flight_port),
                           ("CONTROL_PORT", defaults.control_port)):
        assert f"{variable}=${{GPU_EXEC_{variable}:-{port}}}" in text


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture
def slurm_here(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a two-node Slurm job whose nodes are both this machine: srun, scontrol
    and gpu-exec on PATH, free ports, CPU executors. After the test, no process of it may remain."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("srun", "scontrol"):
        shutil.copy(DEPLOY / "slurm" / "local" / tool, bin_dir / tool)
        (bin_dir / tool).chmod(0o755)
    # gpu-exec as this interpreter runs it, whether or not the console script is installed
    (bin_dir / "gpu-exec").write_text(f'#!/usr/bin/env bash\nexec "{sys.executable}" -m gpu_exec.cli.main "$@"\n')
    (bin_dir / "gpu-exec").chmod(0o755)
    dask_port, flight_port, control_port = _free_ports(3)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "SLURM_JOB_NODELIST": "localhost,localhost",
        "SLURM_JOB_ID": "4242",
        "GPU_EXEC_PYTHON": sys.executable,
        "GPU_EXEC_DASK_PORT": str(dask_port),
        "GPU_EXEC_FLIGHT_PORT": str(flight_port),
        "GPU_EXEC_CONTROL_PORT": str(control_port),
        "GPU_EXEC_STARTUP_TIMEOUT": "120",
        "GPU_EXEC_SCHEDULER_ARGS": "--device cpu --partitions 2",
        "GPU_EXEC_EXECUTOR_ARGS": "--device cpu --nthreads 1",
        "COLUMNS": "200",
    }
    env.pop("SLURM_GPUS_ON_NODE", None)
    env.pop("SLURM_GPUS_PER_NODE", None)
    yield env
    _assert_nothing_left_running(str(dask_port))


def _assert_nothing_left_running(dask_port: str) -> None:
    """No process of the job — the srun steps, the scheduler (``--port PORT``), the executors
    (``--scheduler tcp://localhost:PORT``) — is still running."""
    import psutil

    def survivors() -> list[psutil.Process]:
        found = []
        for process in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(process.info["cmdline"] or [])
            if f"--port {dask_port}" in cmdline or f"localhost:{dask_port}" in cmdline:
                found.append(process)
        return found

    deadline = time.monotonic() + 15
    while survivors() and time.monotonic() < deadline:
        time.sleep(0.5)
    left = survivors()
    for process in left:  # don't leak them into the next tests
        process.kill()
    assert not left, f"left running after the job: {[' '.join(p.info['cmdline']) for p in left]}"


def _sbatch(job: Path, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SBATCH), str(job)], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=300)


NATIONS = "SELECT n_nationkey, n_name, r_name FROM nation JOIN region ON n_regionkey = r_regionkey"


@pytest.mark.parametrize("connect", ["grpc", "tcp"])
def test_sbatch_runs_a_job_on_a_scheduler_and_two_executors(
    connect: str, slurm_here: dict[str, str], tpch_data: dict[str, str], tmp_path: Path,
) -> None:
    out = tmp_path / "out" / "nations"
    job = tmp_path / "job.sql"
    job.write_text(f"""-- the job of a Slurm batch run
CREATE EXTERNAL TABLE nation STORED AS PARQUET LOCATION '{tpch_data["nation"]}';
CREATE EXTERNAL TABLE region STORED AS PARQUET LOCATION '{tpch_data["region"]}';
SELECT r_name, count(*) AS nations FROM nation JOIN region ON n_regionkey = r_regionkey
GROUP BY r_name ORDER BY r_name;
COPY ({NATIONS}) TO '{out}' (FORMAT parquet);
""")
    env = {**slurm_here, "GPU_EXEC_CONNECT": connect}
    if connect == "grpc":
        # authentication on: the scheduler accepts this token, gpu-exec run sends it
        env["GPU_EXEC_AUTH_TOKENS"] = env["GPU_EXEC_TOKEN"] = secrets.token_hex(16)
    else:
        env["GPU_EXEC_RUN_ARGS"] = "--device cpu --partitions 2"
    done = _sbatch(job, env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "waiting for 2 worker(s)" in done.stderr
    assert done.stderr.count("gpu-exec executor ") == 2  # one per "node"
    assert "[3/4] line 4" in done.stdout and "5 rows in" in done.stdout
    assert "stopped the scheduler and the executors; exit code 0" in done.stderr
    expected = datafusion_context({"nation": tpch_data["nation"], "region": tpch_data["region"]}).sql(NATIONS)
    differences = compare_tables(pq.read_table(out), expected.to_arrow_table(), ordered=False)
    assert not differences, differences


def test_sbatch_exits_with_the_failing_jobs_code_and_tears_down(
    slurm_here: dict[str, str], tpch_data: dict[str, str], tmp_path: Path,
) -> None:
    out = tmp_path / "never"
    job = tmp_path / "job.sql"
    job.write_text(f"CREATE EXTERNAL TABLE nation STORED AS PARQUET LOCATION '{tpch_data['nation']}';\n"
                   "SELECT n_nope FROM nation;\n"
                   f"COPY (SELECT * FROM nation) TO '{out}' (FORMAT parquet);\n")
    done = _sbatch(job, {**slurm_here, "GPU_EXEC_CONNECT": "grpc"}, tmp_path)
    assert done.returncode == 1
    assert f"gpu-exec: error: {job}:2: statement 2 of 3 failed:" in done.stderr
    assert "stopped the scheduler and the executors; exit code 1" in done.stderr
    assert not out.exists()


def test_sbatch_fails_fast_when_the_scheduler_cannot_start(slurm_here: dict[str, str], tmp_path: Path) -> None:
    job = tmp_path / "job.sql"
    job.write_text("select 1;\n")
    with socket.socket() as busy:  # the Dask port is taken (bound, not listening: connections fail)
        busy.bind(("0.0.0.0", int(slurm_here["GPU_EXEC_DASK_PORT"])))
        start = time.monotonic()
        done = _sbatch(job, {**slurm_here, "GPU_EXEC_STARTUP_TIMEOUT": "60"}, tmp_path)
    assert done.returncode != 0
    assert time.monotonic() - start < 50, "waited for the startup timeout instead of noticing the exit"
    assert "stopped the scheduler and the executors" in done.stderr


def test_sbatch_without_a_job_file_is_a_usage_error(slurm_here: dict[str, str], tmp_path: Path) -> None:
    done = subprocess.run(["bash", str(SBATCH)], capture_output=True, text=True, env=slurm_here, cwd=tmp_path,
                          timeout=60)
    assert done.returncode == 2 and "usage: sbatch gpu-exec.sbatch JOB.sql" in done.stderr
    done = _sbatch(tmp_path / "missing.sql", slurm_here, tmp_path)
    assert done.returncode == 2 and "cannot read the job file" in done.stderr
