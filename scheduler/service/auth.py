"""Who may use the scheduler's endpoints: bearer tokens, basic-auth users and session tokens.

One ``AuthConfig`` serves both endpoints of ``gpu-exec scheduler``: the Flight SQL endpoint checks
each call's ``authorization`` header with it from a pyarrow.flight server middleware, the control
API from a grpcio interceptor (``scheduler.service.control``). Both send the same header:

- ``authorization: Bearer <token>``: a configured token, or a session token the server issued;
- ``authorization: Basic <base64(user:password)>`` (RFC 7617): a configured user.

The Flight SQL ADBC/JDBC drivers authenticate once with basic auth (the Handshake) and then send
the bearer token the server answers with: that is ``issue_session_token``. Session tokens are
signed (HMAC-SHA256) with a key made when the ``AuthConfig`` is, so they need no storage, are
accepted by both endpoints of one scheduler, expire after ``session_ttl`` seconds and die with the
process (clients then authenticate again).

Configuration, all sources added together (``AuthConfig.from_options``):

- keyword arguments: ``tokens=["<token>", ...]`` or ``{"name": "<token>"}``,
  ``users=["alice:secret", ...]`` or ``{"alice": "secret"}``;
- ``file=``: a TOML file (keep it ``chmod 600``)::

      [tokens]        # name = "token"; the name is the user the jobs list shows
      ci = "2c4e...b1"
      [users]         # user = "password"
      alice = "secret"

- ``environ=os.environ``: ``GPU_EXEC_AUTH_TOKENS`` (tokens separated by commas),
  ``GPU_EXEC_AUTH_USERS`` (``user:password`` pairs separated by commas, so such passwords cannot
  hold a comma: use the file for those), ``GPU_EXEC_AUTH_FILE`` (the path of such a file).

With no credentials configured, authentication is off (``enabled`` is False): every call passes.
Tokens must be at least ``MIN_TOKEN_LENGTH`` characters; an unnamed one is shown as the user
``token:<its first 4 characters>…``. Error messages never contain a configured secret.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import TYPE_CHECKING

from planner.errors import GpuExecError
from scheduler.protocol.credentials import AuthError, basic_header, bearer_header

if TYPE_CHECKING:
    import os

__all__ = [
    "AuthConfig",
    "AuthError",
    "AuthConfigError",
    "MIN_TOKEN_LENGTH",
    "bearer_header",
    "basic_header",
]

MIN_TOKEN_LENGTH = 16
DEFAULT_SESSION_TTL = 24 * 3600.0
_SESSION_PREFIX = "gxs1."  # versions the session token format
_MISSING = "missing credentials: send 'authorization: Bearer <token>' or basic auth"


class AuthConfigError(GpuExecError):
    """The configured credentials are malformed (bad ``user:password``, short token, bad file)."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, eq=False)
class AuthConfig:
    """The credentials the scheduler's endpoints accept; build it with ``from_options``.

    Parameters
    ----------
    tokens
        Bearer token → the user name it authenticates as.
    passwords
        Basic-auth user → password.
    session_ttl
        Seconds a session token from ``issue_session_token`` stays valid.
    """

    tokens: Mapping[str, str] = field(default_factory=dict)
    passwords: Mapping[str, str] = field(default_factory=dict)
    session_ttl: float = DEFAULT_SESSION_TTL
    _session_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def __repr__(self) -> str:
        # Never the secrets: configs end up in logs and tracebacks.
        return (f"AuthConfig(tokens for {sorted(set(self.tokens.values()))}, "
                f"users {sorted(self.passwords)})")

    @classmethod
    def from_options(
        cls,
        tokens: Iterable[str] | Mapping[str, str] = (),
        users: Iterable[str] | Mapping[str, str] = (),
        *,
        file: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        session_ttl: float = DEFAULT_SESSION_TTL,
    ) -> AuthConfig:
        """Credentials from options, a TOML file and the environment, added together.

        Parameters
        ----------
        tokens
            Bearer tokens (shown as user ``token:<first 4 characters>…``), or name → token.
        users
            ``"user:password"`` strings, or user → password.
        file
            A TOML file with ``[tokens]`` (name = token) and ``[users]`` (user = password) tables.
        environ
            Pass ``os.environ`` to read ``GPU_EXEC_AUTH_TOKENS``, ``GPU_EXEC_AUTH_USERS`` and
            ``GPU_EXEC_AUTH_FILE`` too (see the module docstring); None reads nothing.
        session_ttl
            Seconds a session token stays valid.

        Raises
        ------
        AuthConfigError
            When an entry is malformed, a token too short, a user given twice with different
            passwords, or the file missing or not such TOML.
        """
        builder = _Builder()
        builder.add_tokens(tokens, "tokens=")
        builder.add_users(users, "users=")
        if file is not None:
            builder.add_file(Path(file))
        if environ is not None:
            builder.add_tokens(_split_list(environ.get("GPU_EXEC_AUTH_TOKENS", "")), "GPU_EXEC_AUTH_TOKENS")
            builder.add_users(_split_list(environ.get("GPU_EXEC_AUTH_USERS", "")), "GPU_EXEC_AUTH_USERS")
            if environ.get("GPU_EXEC_AUTH_FILE", "").strip():
                builder.add_file(Path(environ["GPU_EXEC_AUTH_FILE"].strip()))
        return cls(builder.tokens, builder.passwords, session_ttl)

    @property
    def enabled(self) -> bool:
        """Whether calls must authenticate (some token or user is configured)."""
        return bool(self.tokens or self.passwords)

    def authenticate(self, authorization: str | None) -> str:
        """The user a call's ``authorization`` header authenticates.

        Parameters
        ----------
        authorization
            The header's value (``"Bearer <token>"`` or ``"Basic <base64>"``), None when absent.

        Returns
        -------
        str
            The user name: the configured user or token name, or the session token's user. With
            authentication off, the user the header claims (unchecked, for display), else "".

        Raises
        ------
        AuthError
            When authentication is on and the credentials are missing, malformed or wrong.
        """
        if not self.enabled:
            return self._claimed_user(authorization)
        scheme, _, credentials = (authorization or "").strip().partition(" ")
        credentials = credentials.strip()
        if not scheme:
            raise AuthError(_MISSING)
        if scheme.lower() == "bearer":
            return self._check_bearer(credentials)
        if scheme.lower() == "basic":
            user, password = _decode_basic(credentials)
            return self._check_password(user, password)
        if not credentials:
            # Likely a bare token without "Bearer ": not echoed, it may be a secret.
            raise AuthError("malformed authorization header: expected 'Bearer <token>' or "
                            "'Basic <base64 of user:password>'")
        raise AuthError(f"unsupported authorization scheme {scheme[:20]!r}: send "
                        "'authorization: Bearer <token>' or basic auth")

    def issue_session_token(self, user: str) -> str:
        """A bearer token for ``user``, accepted by ``authenticate`` for ``session_ttl`` seconds:
        what a Flight SQL Handshake answers after checking the user's basic auth."""
        payload = f"{int(time.time() + self.session_ttl)}:{user}".encode()
        return f"{_SESSION_PREFIX}{_b64url(payload)}.{_b64url(self._sign(payload))}"

    # ---- checks ----------------------------------------------------------------------------------

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._session_key, payload, sha256).digest()

    def _check_bearer(self, token: str) -> str:
        if not token:
            raise AuthError(_MISSING)
        if token.startswith(_SESSION_PREFIX):
            return self._check_session(token)
        given = token.encode()
        user = None
        for expected, name in self.tokens.items():
            # No early exit: the time taken does not tell which token was close.
            if hmac.compare_digest(given, expected.encode()):
                user = name
        if user is None:
            raise AuthError("invalid token")
        return user

    def _check_session(self, token: str) -> str:
        try:
            payload_text, _, signature = token[len(_SESSION_PREFIX):].partition(".")
            payload, signature_bytes = _unb64url(payload_text), _unb64url(signature)
        except (binascii.Error, ValueError):
            raise AuthError("invalid token") from None
        if not hmac.compare_digest(signature_bytes, self._sign(payload)):
            # Also what a token of an earlier scheduler process gets: its key is gone.
            raise AuthError("invalid token (a session token of a restarted scheduler? "
                            "authenticate again)")
        expiry, _, user = payload.decode().partition(":")
        if time.time() > int(expiry):
            raise AuthError("session token expired: authenticate again")
        return user

    def _check_password(self, user: str, password: str) -> str:
        expected = self.passwords.get(user)
        # Compare even for an unknown user, so the time taken does not reveal which users exist.
        matches = hmac.compare_digest(password.encode(), (expected or password + "x").encode())
        if expected is None or not matches:
            raise AuthError("wrong user or password")
        return user

    def _claimed_user(self, authorization: str | None) -> str:
        scheme, _, credentials = (authorization or "").strip().partition(" ")
        try:
            if scheme.lower() == "basic":
                return _decode_basic(credentials.strip())[0]
            if scheme.lower() == "bearer" and credentials.strip().startswith(_SESSION_PREFIX):
                return self._check_session(credentials.strip())
        except AuthError:
            pass
        return ""


def _decode_basic(credentials: str) -> tuple[str, str]:
    try:
        # Go's Flight SQL client (the ADBC driver) sends base64 without its '=' padding.
        padded = credentials + "=" * (-len(credentials) % 4)
        user, sep, password = base64.b64decode(padded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        sep = ""
    if not sep or not credentials:
        raise AuthError("malformed basic credentials: expected 'Basic <base64 of user:password>'")
    return user, password


def _split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


class _Builder:
    """Collects and checks credentials from the sources of ``AuthConfig.from_options``; each error
    names the source."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.passwords: dict[str, str] = {}

    def add_tokens(self, tokens: Iterable[str] | Mapping[str, str], source: str) -> None:
        if isinstance(tokens, str):
            raise AuthConfigError(f"{source} expects a list of tokens, not one string")
        named = tokens.items() if isinstance(tokens, Mapping) else ((None, t) for t in tokens)
        for name, token in named:
            token = str(token).strip()
            if len(token) < MIN_TOKEN_LENGTH or any(c.isspace() for c in token):
                raise AuthConfigError(
                    f"{source}: a token must be at least {MIN_TOKEN_LENGTH} characters without "
                    "spaces; make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'")
            self.tokens[token] = name if name else f"token:{token[:4]}…"

    def add_users(self, users: Iterable[str] | Mapping[str, str], source: str) -> None:
        if isinstance(users, str):
            raise AuthConfigError(f"{source} expects a list of 'user:password', not one string")
        if isinstance(users, Mapping):
            pairs = [(str(u), str(p)) for u, p in users.items()]
        else:
            pairs = []
            for entry in users:
                user, sep, password = str(entry).partition(":")
                if not sep:
                    raise AuthConfigError(f"{source}: expected 'user:password', got an entry "
                                          f"without ':' (user {user[:20]!r}?)")
                pairs.append((user, password))
        for user, password in pairs:
            user = user.strip()
            if not user or ":" in user or not password:
                raise AuthConfigError(f"{source}: user {user!r} needs a name without ':' and a "
                                      "non-empty password")
            if self.passwords.get(user, password) != password:
                raise AuthConfigError(f"{source}: user {user!r} is configured twice with "
                                      "different passwords")
            self.passwords[user] = password

    def add_file(self, path: Path) -> None:
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise AuthConfigError(f"auth file not found: {path}") from None
        except OSError as exc:
            raise AuthConfigError(f"cannot read the auth file {path}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise AuthConfigError(f"auth file {path} is not valid TOML: {exc}") from None
        unknown = sorted(set(data) - {"tokens", "users"})
        if unknown:
            raise AuthConfigError(f"auth file {path}: unknown keys {unknown}; expected [tokens] "
                                  "and [users] tables")
        for table in ("tokens", "users"):
            entries = data.get(table, {})
            if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
                raise AuthConfigError(f"auth file {path}: [{table}] must map names to strings")
        self.add_tokens(data.get("tokens", {}), f"auth file {path} [tokens]")
        self.add_users(data.get("users", {}), f"auth file {path} [users]")
