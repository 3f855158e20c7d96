"""Credentials as clients send them: the ``authorization`` header values, and the error a server
answers when they are missing or wrong."""

from __future__ import annotations

import base64

from planner.errors import GpuExecError

__all__ = ["AuthError", "bearer_header", "basic_header"]


class AuthError(GpuExecError):
    """A call's credentials are missing or wrong; the message says which, never the secret."""


def bearer_header(token: str) -> str:
    """The ``authorization`` header value for a bearer token."""
    return f"Bearer {token}"


def basic_header(user: str, password: str) -> str:
    """The ``authorization`` header value for basic auth (RFC 7617, UTF-8)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
