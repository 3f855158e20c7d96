"""TLS certificates of the scheduler's endpoints (Flight SQL and the control API) and of the Dask
comms between scheduler, executors and clients (mutual TLS), read from files.

Both servers take the certificate chain and private key as PEM bytes, ``(cert_chain, private_key)``:
pyarrow.flight as ``tls_certificates=[ServerTLS]``, grpcio through ``grpc.ssl_server_credentials``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from planner.errors import GpuExecError

if TYPE_CHECKING:
    import os

__all__ = ["ServerTLS", "TLSConfigError", "load_server_tls", "load_root_certificate", "dask_security"]

ServerTLS = tuple[bytes, bytes]
"""``(certificate_chain_pem, private_key_pem)``."""


class TLSConfigError(GpuExecError):
    """A TLS certificate or key file is missing, unreadable or not PEM."""


def _read_pem(path: str | os.PathLike[str], what: str, marker: bytes) -> bytes:
    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise TLSConfigError(f"TLS {what} file not found: {file}") from None
    except OSError as exc:
        raise TLSConfigError(f"cannot read the TLS {what} file {file}: {exc.strerror or exc}") from None
    # grpc's own error for a non-PEM file comes later and says only "Could not create server
    # credentials"; name the file now instead.
    if b"-----BEGIN " not in data or marker not in data:
        raise TLSConfigError(f"the TLS {what} file {file} is not PEM: it has no "
                             f"'-----BEGIN ...{marker.decode()}-----' block")
    return data


def load_server_tls(cert_file: str | os.PathLike[str], key_file: str | os.PathLike[str]) -> ServerTLS:
    """Read a server's PEM certificate chain and private key.

    Parameters
    ----------
    cert_file
        The server certificate, followed by any intermediate certificates.
    key_file
        Its private key (not encrypted: the servers cannot ask for a passphrase).

    Raises
    ------
    TLSConfigError
        When a file is missing or unreadable, or holds no PEM certificate / key.
    """
    return (_read_pem(cert_file, "certificate", b"CERTIFICATE"),
            _read_pem(key_file, "private key", b"PRIVATE KEY"))


def load_root_certificate(ca_file: str | os.PathLike[str]) -> bytes:
    """Read the PEM certificate(s) of the CA a client trusts to sign the server's certificate.

    Raises
    ------
    TLSConfigError
        When the file is missing or unreadable, or holds no PEM certificate.
    """
    return _read_pem(ca_file, "certificate", b"CERTIFICATE")


def dask_security(role: str, ca_file: str | os.PathLike[str], cert_file: str | os.PathLike[str],
                  key_file: str | os.PathLike[str]) -> object:
    """Dask's mutual TLS for ``role`` ("scheduler", "worker" or "client"): a
    ``distributed.security.Security`` that encrypts every connection of the Dask comms
    (``tls://``) and requires the peer's certificate to be signed by the CA in ``ca_file`` — so a
    process without such a certificate can neither submit tasks nor talk to an executor. The
    certificate serves as this process's server certificate (scheduler, worker) and as its client
    certificate when it connects out (a worker to its peers and the scheduler, the scheduler's own
    session to its cluster).

    Raises
    ------
    TLSConfigError
        When a file is missing or unreadable, or not PEM.
    """
    if role not in ("scheduler", "worker", "client"):
        raise ValueError(f"unknown Dask TLS role {role!r}")
    load_root_certificate(ca_file)
    load_server_tls(cert_file, key_file)
    from distributed.security import Security

    files = {"tls_ca_file": str(ca_file), "tls_client_cert": str(cert_file), "tls_client_key": str(key_file)}
    if role != "client":
        files[f"tls_{role}_cert"] = str(cert_file)
        files[f"tls_{role}_key"] = str(key_file)
    return Security(require_encryption=True, **files)
