"""Regenerate the committed modules of the ``.proto`` files here: ``python -m scheduler.protocol.proto.generate``.

Needs grpcio-tools (the ``dev`` extra, pinned: ``tests/service/test_control_proto.py`` compares the
committed modules with its output). Each proto gets ``<name>_pb2.py`` and ``<name>_pb2.pyi``, and
``<name>_pb2_grpc.py`` when it declares a service.

The protos are compiled with their paths relative to the directory holding the ``scheduler``
package, so the process-wide descriptor pool knows them as ``scheduler/protocol/proto/<name>.proto`` (a bare
``jobs.proto`` could clash with another library's file of that name); protoc then writes absolute
``from scheduler.protocol.proto import`` lines, rewritten here as relative imports so that the modules work
wherever the package is installed.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

__all__ = ["PROTO_DIR", "proto_files", "generated_names", "generate"]

PROTO_DIR = Path(__file__).resolve().parent
_PACKAGE_ROOT = PROTO_DIR.parents[2]  # the directory holding scheduler/
_SERVICE = re.compile(r"^\s*service\s+\w+", re.MULTILINE)


def proto_files() -> list[Path]:
    """The ``.proto`` files of this package."""
    return sorted(PROTO_DIR.glob("*.proto"))


def generated_names(proto: Path) -> list[str]:
    """The modules generated from ``proto``: no ``_pb2_grpc.py`` for a proto without services
    (protoc would write one holding only a version check)."""
    names = [f"{proto.stem}_pb2.py", f"{proto.stem}_pb2.pyi"]
    if _SERVICE.search(proto.read_text()):
        names.append(f"{proto.stem}_pb2_grpc.py")
    return names


def generate(out_dir: Path = PROTO_DIR) -> list[Path]:
    """Run protoc on every proto of ``proto_files()`` and write its ``generated_names`` to ``out_dir``.

    Parameters
    ----------
    out_dir
        Where to write them; this package's directory by default (the test regenerates into a
        temporary directory and compares).

    Returns
    -------
    list[Path]
        The files written.
    """
    import grpc_tools
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    written = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for proto in proto_files():
        with tempfile.TemporaryDirectory() as raw:
            status = protoc.main(["grpc_tools.protoc", f"-I{_PACKAGE_ROOT}", f"-I{well_known}",
                                  f"--python_out={raw}", f"--pyi_out={raw}", f"--grpc_python_out={raw}",
                                  str(proto)])
            if status != 0:
                raise RuntimeError(f"protoc failed on {proto} (exit status {status})")
            for name in generated_names(proto):
                text = (Path(raw) / "scheduler" / "protocol" / "proto" / name).read_text()
                target = out_dir / name
                target.write_text(text.replace("from scheduler.protocol.proto import ", "from . import "))
                written.append(target)
    return written


if __name__ == "__main__":
    for path in generate(Path(sys.argv[1]) if len(sys.argv) > 1 else PROTO_DIR):
        print(path)
