"""Debug output never shows secrets: query values, passwords and header values become ***."""

from __future__ import annotations

import string
from urllib.parse import quote, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from partysocket.core.redact import REDACTED, redact_headers, redact_url


def test_marker() -> None:
    assert REDACTED == "***"


def test_query_values_are_redacted_and_keys_kept() -> None:
    out = redact_url("wss://example.com/parties/main/room?_pk=abc123&token=s3cret&empty=")
    assert out == "wss://example.com/parties/main/room?_pk=***&token=***&empty=***"
    assert "abc123" not in out
    assert "s3cret" not in out


def test_repeated_and_encoded_query_values() -> None:
    out = redact_url("wss://h/?a=one%20secret&a=two+secret&b=%E2%82%AC")
    assert urlsplit(out).query == "a=***&a=***&b=***"
    assert "secret" not in out


def test_password_and_user_are_redacted() -> None:
    out = redact_url("wss://alice:hunter2@example.com:8443/socket")
    assert out == "wss://***:***@example.com:8443/socket"


def test_password_containing_at_and_colon() -> None:
    out = redact_url("wss://alice:pa@ss:wo@rd@example.com/")
    assert "pa@ss" not in out
    assert "wo@rd" not in out
    assert out == "wss://***:***@example.com/"


def test_user_without_password_is_redacted_as_it_may_be_a_token() -> None:
    assert redact_url("wss://tok3n@example.com/") == "wss://***@example.com/"


def test_a_query_item_without_a_value_is_hidden_whole() -> None:
    assert redact_url("wss://example.com/?tok3n&a=1") == "wss://example.com/?***&a=***"


def test_url_without_secrets_is_unchanged() -> None:
    for url in ("wss://example.com/socket", "ws://localhost:8080/", "ws://[::1]:1999/parties/main/r"):
        assert redact_url(url) == url


def test_fragment_is_not_shown() -> None:
    out = redact_url("wss://example.com/#access_token=s3cret")
    assert "s3cret" not in out
    assert out.startswith("wss://example.com/")


def test_unparseable_url_is_fully_redacted() -> None:
    assert redact_url("wss://[::1/?token=s3cret") == REDACTED


def test_header_values_are_redacted() -> None:
    headers = [("Authorization", "Bearer s3cret"), ("Cookie", "session=abc"), ("X-Empty", "")]
    assert redact_headers(headers) == [("Authorization", "***"), ("Cookie", "***"), ("X-Empty", "***")]
    assert redact_headers({"Authorization": "Bearer s3cret"}.items()) == [("Authorization", "***")]
    assert redact_headers([]) == []


# Everything not secret is lowercase ASCII, so the marker "Zz9Q" can only come from a secret.
MARK = "Zz9Q"
names = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8)
secrets = st.text(min_size=0, max_size=12).map(lambda s: MARK + s)


@given(
    user=names,
    password=st.one_of(st.none(), secrets),
    host=names,
    path=st.lists(names, max_size=3),
    query=st.lists(st.tuples(names, secrets), max_size=4),
    fragment=st.one_of(st.none(), secrets),
)
def test_secrets_never_appear(
    user: str,
    password: str | None,
    host: str,
    path: list[str],
    query: list[tuple[str, str]],
    fragment: str | None,
) -> None:
    userinfo = user if password is None else f"{user}:{quote(password, safe='')}"
    url = f"wss://{userinfo}@{host}.example/{'/'.join(path)}"
    if query:
        url += "?" + "&".join(f"{key}={quote(value, safe='')}" for key, value in query)
    if fragment is not None:
        url += "#" + quote(fragment, safe="")
    out = redact_url(url)
    assert MARK not in out
    assert f"{host}.example" in out
    assert out.startswith("wss://***")
    for key, _ in query:
        assert f"{key}=***" in out


@given(st.lists(st.tuples(names, secrets), max_size=5))
def test_header_secrets_never_appear(headers: list[tuple[str, str]]) -> None:
    out = redact_headers(headers)
    assert [name for name, _ in out] == [name for name, _ in headers]
    assert all(value == REDACTED for _, value in out)
    assert MARK not in repr(out)
