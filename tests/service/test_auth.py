"""``scheduler.service.auth``: the credentials both scheduler endpoints accept, and the messages of refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.service.auth import AuthConfig, AuthConfigError, AuthError, basic_header, bearer_header

TOKEN = "tok-3f9ac2d1e7b04a5f8c6d"
CI_TOKEN = "ci-77aa5b0c9d1e2f3a4b5c"


@pytest.fixture
def auth() -> AuthConfig:
    return AuthConfig.from_options(tokens=[TOKEN], users=["alice:s3cret:with:colons", "bob:hunter2"])


def test_nothing_configured_means_authentication_is_off() -> None:
    auth = AuthConfig.from_options()
    assert not auth.enabled
    assert auth.authenticate(None) == ""
    assert auth.authenticate(bearer_header("whatever")) == ""
    # the user a header claims, unchecked, so that the jobs list can still say who ran what
    assert auth.authenticate(basic_header("carol", "anything")) == "carol"


def test_tokens_authenticate_as_their_names(auth: AuthConfig) -> None:
    assert auth.enabled
    assert auth.authenticate(bearer_header(TOKEN)) == "token:tok-…"
    named = AuthConfig.from_options(tokens={"ci": CI_TOKEN})
    assert named.authenticate(bearer_header(CI_TOKEN)) == "ci"
    assert named.authenticate(f"bearer   {CI_TOKEN}  ") == "ci"  # the scheme is case-insensitive


def test_basic_users(auth: AuthConfig) -> None:
    assert auth.authenticate(basic_header("alice", "s3cret:with:colons")) == "alice"
    assert auth.authenticate(basic_header("bob", "hunter2")) == "bob"
    assert AuthConfig.from_options(users={"dave": "pw"}).authenticate(basic_header("dave", "pw")) == "dave"


@pytest.mark.parametrize(("header", "message"), [
    (None, "missing credentials: send 'authorization: Bearer <token>' or basic auth"),
    ("", "missing credentials"),
    ("Bearer", "missing credentials"),
    (bearer_header("tok-3f9ac2d1e7b04a5f8c6X"), "invalid token"),
    (basic_header("alice", "wrong"), "wrong user or password"),
    (basic_header("mallory", "s3cret:with:colons"), "wrong user or password"),
    ("Basic not-base64!", "malformed basic credentials"),
    ("Basic " + "YWxpY2U=", "malformed basic credentials"),  # base64 of "alice": no ':'
    ("Digest abc", "unsupported authorization scheme 'Digest'"),
    (TOKEN, "malformed authorization header"),  # a bare token, without "Bearer "
])
def test_refusals_say_what_is_wrong(auth: AuthConfig, header: str | None, message: str) -> None:
    with pytest.raises(AuthError, match=message) as info:
        auth.authenticate(header)
    # never the configured secrets (nor a secret the caller sent by mistake)
    for secret in (TOKEN, "s3cret", "hunter2"):
        assert secret not in str(info.value)


def test_session_tokens(auth: AuthConfig) -> None:
    token = auth.issue_session_token("alice")
    assert auth.authenticate(bearer_header(token)) == "alice"
    # signed by this config's key only: another scheduler process (or a restart) refuses it
    with pytest.raises(AuthError, match="invalid token"):
        AuthConfig.from_options(tokens=[TOKEN]).authenticate(bearer_header(token))
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    with pytest.raises(AuthError, match="invalid token"):
        auth.authenticate(bearer_header(forged))
    with pytest.raises(AuthError, match="invalid token"):
        auth.authenticate(bearer_header("gxs1.!!!.???"))


def test_session_tokens_expire() -> None:
    auth = AuthConfig.from_options(users=["alice:pw"], session_ttl=-1)
    with pytest.raises(AuthError, match="session token expired: authenticate again"):
        auth.authenticate(bearer_header(auth.issue_session_token("alice")))


def test_repr_shows_no_secret(auth: AuthConfig) -> None:
    text = repr(auth)
    assert "alice" in text and "s3cret" not in text and TOKEN not in text


@pytest.mark.parametrize(("options", "message"), [
    ({"tokens": ["short"]}, "at least 16 characters"),
    ({"tokens": ["has a space in it, long enough"]}, "without spaces"),
    ({"tokens": TOKEN}, "a list of tokens, not one string"),
    ({"users": ["alice"]}, "expected 'user:password'"),
    ({"users": ["alice:"]}, "non-empty password"),
    ({"users": [":pw"]}, "needs a name"),
    ({"users": ["alice:a", "alice:b"]}, "configured twice"),
])
def test_bad_options_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(AuthConfigError, match=message):
        AuthConfig.from_options(**options)  # type: ignore[arg-type]


def test_file_and_environment(tmp_path: Path) -> None:
    file = tmp_path / "auth.toml"
    file.write_text(f'[tokens]\nci = "{CI_TOKEN}"\n\n[users]\nalice = "pw, with a comma"\n')
    environ = {"GPU_EXEC_AUTH_TOKENS": f" {TOKEN} ,", "GPU_EXEC_AUTH_USERS": "bob:hunter2,carol:x"}
    auth = AuthConfig.from_options(users=["dave:pw"], file=file, environ=environ)
    assert auth.authenticate(bearer_header(CI_TOKEN)) == "ci"
    assert auth.authenticate(bearer_header(TOKEN)) == "token:tok-…"
    assert auth.authenticate(basic_header("alice", "pw, with a comma")) == "alice"
    assert auth.authenticate(basic_header("carol", "x")) == "carol"
    assert auth.authenticate(basic_header("dave", "pw")) == "dave"
    via_env = AuthConfig.from_options(environ={"GPU_EXEC_AUTH_FILE": str(file)})
    assert via_env.authenticate(bearer_header(CI_TOKEN)) == "ci"
    assert not AuthConfig.from_options(environ={}).enabled


@pytest.mark.parametrize(("content", "message"), [
    (None, "auth file not found"),
    ("[tokens\n", "not valid TOML"),
    ('[token]\nci = "x"\n', r"unknown keys \['token'\]"),
    ("[users]\nalice = 3\n", r"\[users\] must map names to strings"),
    ('[tokens]\nci = "short"\n', r"\[tokens\]: a token must be at least 16"),
])
def test_bad_files_are_named(tmp_path: Path, content: str | None, message: str) -> None:
    file = tmp_path / "auth.toml"
    if content is not None:
        file.write_text(content)
    with pytest.raises(AuthConfigError, match=message) as info:
        AuthConfig.from_options(file=file)
    assert str(file) in str(info.value)


def test_basic_credentials_without_base64_padding(auth: AuthConfig) -> None:
    # Go's Flight SQL client (the ADBC driver) leaves out base64's '=' padding.
    unpadded = basic_header("alice", "wrong").rstrip("=")
    assert unpadded != basic_header("alice", "wrong")
    with pytest.raises(AuthError, match="wrong user or password"):
        auth.authenticate(unpadded)
