"""PartySocket.fetch: an HTTP request to the room URL, with httpx.

Requests over ``http`` go to a small real HTTP/1.1 server started in the test
on 127.0.0.1, which records the method, request target, headers and body of
everything it receives. For ``https`` (which needs a TLS server the test cannot
make httpx trust), the URL httpx is about to send is captured at the transport
boundary instead, so nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from partysocket import PartySocket
from partysocket.core.url import RoomAddress
from tests.servers import TIMEOUT, free_port


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)


@dataclass
class HttpServer:
    """A minimal HTTP/1.1 server: records each request and answers ``status`` with a short body."""

    status: int = 200
    requests: list[Seen] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def __aenter__(self) -> HttpServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        if self._handlers:
            await asyncio.wait_for(asyncio.gather(*self._handlers, return_exceptions=True), TIMEOUT)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _version = lines[0].split(" ", 2)
            headers: dict[str, str] = {}
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            body = await reader.readexactly(length) if length else b""
            self.requests.append(Seen(method, target, headers, body))
            payload = b"" if method == "HEAD" else f"answer to {method}".encode()
            reason = "OK" if self.status == 200 else "Status"
            writer.write(
                f"HTTP/1.1 {self.status} {reason}\r\n"
                f"Content-Type: text/plain\r\n"
                f"X-Test-Server: yes\r\n"
                f"Content-Length: {len(payload)}\r\n"
                f"Connection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass
            self._handlers.discard(task)

    @property
    def last(self) -> Seen:
        assert self.requests, "the server received no request"
        return self.requests[-1]


# -- over http, against the local server ----------------------------------------------------


async def test_get_room_url_returns_httpx_response() -> None:
    async with HttpServer() as server:
        response = await PartySocket.fetch(server.host, "my-room")
        assert isinstance(response, httpx.Response)
        assert response.status_code == 200
        assert response.text == "answer to GET"
        assert response.headers["x-test-server"] == "yes"
        assert str(response.request.url) == f"http://{server.host}/parties/main/my-room"
        assert len(server.requests) == 1
        assert server.last.method == "GET"
        assert server.last.target == "/parties/main/my-room"


async def test_no_pk_and_no_trailing_question_mark() -> None:
    async with HttpServer() as server:
        queries: list[Any] = [None, {}, {"gone": None}, lambda: {}, lambda: None]
        for query in queries:
            await PartySocket.fetch(server.host, "room", query=query)
            assert server.last.target == "/parties/main/room", query
            assert "?" not in server.last.target
            assert "_pk" not in server.last.target


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "PURGE"])
async def test_any_method(method: str) -> None:
    async with HttpServer() as server:
        response = await PartySocket.fetch(server.host, "room", method=method)
        assert server.last.method == method
        assert server.last.path == "/parties/main/room"
        assert response.status_code == 200
        assert response.request.method == method


async def test_content_body_and_headers() -> None:
    async with HttpServer() as server:
        await PartySocket.fetch(
            server.host,
            "room",
            method="POST",
            content=b"raw \x00 bytes",
            headers={"Authorization": "Bearer secret", "X-Custom": "custom value", "Content-Type": "text/plain"},
        )
        seen = server.last
        assert seen.method == "POST"
        assert seen.body == b"raw \x00 bytes"
        assert seen.headers["authorization"] == "Bearer secret"
        assert seen.headers["x-custom"] == "custom value"
        assert seen.headers["content-type"] == "text/plain"
        assert seen.headers["content-length"] == str(len(b"raw \x00 bytes"))


async def test_json_body() -> None:
    async with HttpServer() as server:
        payload = {"data": "test", "n": [1, 2, 3], "uni": "café"}
        await PartySocket.fetch(server.host, "room", method="PUT", json=payload)
        seen = server.last
        assert seen.method == "PUT"
        assert seen.headers["content-type"] == "application/json"
        assert json.loads(seen.body) == payload


async def test_text_content_body() -> None:
    async with HttpServer() as server:
        await PartySocket.fetch(server.host, "room", method="POST", content="héllo")
        assert server.last.body == "héllo".encode()


async def test_party_prefix_path_and_base_path() -> None:
    async with HttpServer() as server:
        await PartySocket.fetch(server.host, "my-room", party="custom-party")
        assert server.last.target == "/parties/custom-party/my-room"
        await PartySocket.fetch(server.host, "my-room", party="custom", prefix="rooms")
        assert server.last.target == "/rooms/custom/my-room"
        await PartySocket.fetch(server.host, "my-room", path="subpath/deeper")
        assert server.last.target == "/parties/main/my-room/subpath/deeper"
        await PartySocket.fetch(server.host, "my-room", base_path="custom/base", prefix="ignored", party="ignored")
        assert server.last.target == "/custom/base"
        await PartySocket.fetch(server.host, base_path="custom/base", path="p")
        assert server.last.target == "/custom/base/p"


async def test_same_room_url_as_the_socket() -> None:
    async with HttpServer() as server:
        options: dict[str, Any] = {"room": "test-room", "party": "test-party", "path": "test-path"}
        response = await PartySocket.fetch(server.host, **options)
        socket_url = PartySocket(server.host, start_closed=True, **options).room_url
        assert socket_url.startswith("ws://")
        assert str(response.request.url) == "http://" + socket_url.removeprefix("ws://")


async def test_query_encoded_none_omitted_and_no_pk() -> None:
    async with HttpServer() as server:
        query = {"foo": "bar", "null": None, "space key": "a b", "amp": "x&y=z", "uni": "café ☕", "n": 3}
        await PartySocket.fetch(server.host, "room", query=query)
        assert server.last.path == "/parties/main/room"
        assert server.last.query == {
            "foo": ["bar"],
            "space key": ["a b"],
            "amp": ["x&y=z"],
            "uni": ["café ☕"],
            "n": ["3"],
        }
        raw = urlsplit(server.last.target).query
        assert "null" not in raw
        assert "_pk" not in raw
        assert raw.isascii()
        assert " " not in raw


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_query_provider_resolved_for_each_fetch(flavour: str) -> None:
    calls: list[int] = []

    def value() -> dict[str, object]:
        calls.append(1)
        return {"token": f"t{len(calls)}", "gone": None}

    async def async_value() -> dict[str, object]:
        await asyncio.sleep(0)
        return value()

    provider: Callable[[], Any] = value if flavour == "sync" else async_value
    async with HttpServer() as server:
        await PartySocket.fetch(server.host, "room", query=provider)
        await PartySocket.fetch(server.host, "room", query=provider)
        assert len(calls) == 2
        assert [r.query for r in server.requests] == [{"token": ["t1"]}, {"token": ["t2"]}]
        assert all("_pk" not in r.target and "gone" not in r.target for r in server.requests)


@pytest.mark.parametrize("scheme", ["http://", "ws://"])
async def test_host_scheme_and_trailing_slash_stripped(scheme: str) -> None:
    async with HttpServer() as server:
        response = await PartySocket.fetch(f"{scheme}{server.host}/", "room")
        assert str(response.request.url) == f"http://{server.host}/parties/main/room"
        assert server.last.target == "/parties/main/room"


@pytest.mark.parametrize("protocol", ["http", "ws"])
async def test_explicit_protocol_overrides_https_host_scheme(protocol: str) -> None:
    async with HttpServer() as server:
        response = await PartySocket.fetch(f"https://{server.host}", "room", protocol=protocol)
        assert response.status_code == 200
        assert response.request.url.scheme == "http"
        assert server.last.target == "/parties/main/room"


HOSTILE_NAMES = ["my room", "a?b=c", "a#frag", "tab\tname", "new\nline", "ctl\x00\x7f", "x&y=z", "100%", "café"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
async def test_room_and_party_names_cannot_change_the_url(name: str) -> None:
    async with HttpServer() as server:
        await PartySocket.fetch(server.host, name, party=name, query={"k": "v"})
        parts = urlsplit(server.last.target)
        segments = parts.path.split("/")
        assert len(segments) == 4
        assert segments[1] == "parties"
        assert unquote(segments[2]) == name
        assert unquote(segments[3]) == name
        assert parse_qs(parts.query) == {"k": ["v"]}


@pytest.mark.parametrize("name", [".", ".."])
async def test_dot_room_names_reach_the_room(name: str) -> None:
    # httpx (like any URL normaliser) removes "." and ".." path segments, so an
    # unescaped dot name would send the request to /parties/main or /parties.
    async with HttpServer() as server:
        await PartySocket.fetch(server.host, name)
        segments = server.last.path.split("/")
        assert segments[:3] == ["", "parties", "main"]
        assert len(segments) == 4
        assert unquote(segments[3]) == name


async def test_http_error_status_is_returned_not_raised() -> None:
    async with HttpServer(status=503) as server:
        response = await PartySocket.fetch(server.host, "room")
        assert response.status_code == 503
        assert server.last.target == "/parties/main/room"


# -- errors ----------------------------------------------------------------------------------


async def test_connection_refused_raises_httpx_connect_error() -> None:
    port = await free_port()
    with pytest.raises(httpx.ConnectError):
        await PartySocket.fetch(f"127.0.0.1:{port}", "room")


async def test_query_provider_error_propagates_unchanged() -> None:
    error = RuntimeError("token service down")

    def broken() -> dict[str, str]:
        raise error

    with pytest.raises(RuntimeError) as caught:
        await PartySocket.fetch("127.0.0.1:1", "room", query=broken)
    assert caught.value is error


async def test_path_with_leading_slash_raises() -> None:
    with pytest.raises(ValueError, match="path"):
        await PartySocket.fetch("127.0.0.1:1", "room", path="/invalid")


async def test_no_room_and_no_base_path_raises() -> None:
    with pytest.raises(ValueError, match="room"):
        await PartySocket.fetch("127.0.0.1:1")


async def test_empty_host_raises() -> None:
    with pytest.raises(ValueError):
        await PartySocket.fetch("", "room")


async def test_bad_query_type_raises() -> None:
    with pytest.raises(TypeError):
        await PartySocket.fetch("127.0.0.1:1", "room", query="a=b")


def test_missing_httpx_names_the_http_extra() -> None:
    code = (
        "import sys; sys.modules['httpx'] = None; import asyncio, partysocket; "
        "asyncio.run(partysocket.PartySocket.fetch('127.0.0.1:1', 'r'))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "partysocket[http]" in result.stderr


# -- https: the scheme chosen, captured before anything is sent ------------------------------


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[httpx.Request]:
    """Requests httpx's default transport would send; each gets an empty 200 without any network."""
    requests: list[httpx.Request] = []

    async def handle(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, text="intercepted")

    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", handle)
    return requests


@pytest.mark.parametrize(
    ("host", "protocol", "expected"),
    [
        ("example.com", None, "https://example.com/parties/main/my-room"),
        ("example.com/", None, "https://example.com/parties/main/my-room"),
        ("https://example.com", None, "https://example.com/parties/main/my-room"),
        ("wss://example.com/", None, "https://example.com/parties/main/my-room"),
        ("10.example.com", None, "https://10.example.com/parties/main/my-room"),
        ("192.168.example.com", None, "https://192.168.example.com/parties/main/my-room"),
        ("8.8.8.8", None, "https://8.8.8.8/parties/main/my-room"),
        ("172.32.0.1", None, "https://172.32.0.1/parties/main/my-room"),
        ("https://localhost:1999", None, "https://localhost:1999/parties/main/my-room"),
        ("127.0.0.1:1999", "https", "https://127.0.0.1:1999/parties/main/my-room"),
        ("localhost:1999", "wss", "https://localhost:1999/parties/main/my-room"),
        ("http://example.com", None, "http://example.com/parties/main/my-room"),
        ("example.com", "http", "http://example.com/parties/main/my-room"),
        ("localhost:1999", None, "http://localhost:1999/parties/main/my-room"),
        ("192.168.1.1", None, "http://192.168.1.1/parties/main/my-room"),
        ("10.0.0.1", None, "http://10.0.0.1/parties/main/my-room"),
        ("172.16.0.1", None, "http://172.16.0.1/parties/main/my-room"),
        ("[::1]:1999", None, "http://[::1]:1999/parties/main/my-room"),
        ("[::ffff:7f00:1]:1999", None, "http://[::ffff:7f00:1]:1999/parties/main/my-room"),
    ],
)
async def test_scheme_chosen_like_ws_and_wss(
    captured: list[httpx.Request], host: str, protocol: str | None, expected: str
) -> None:
    response = await PartySocket.fetch(host, "my-room", protocol=protocol)
    assert response.text == "intercepted"
    assert [str(r.url) for r in captured] == [expected]


async def test_https_request_carries_method_body_headers_and_query(captured: list[httpx.Request]) -> None:
    await PartySocket.fetch(
        "example.com",
        "room",
        party="p",
        path="x",
        method="PATCH",
        json={"a": 1},
        headers={"X-Token": "t"},
        query={"q": "1 2", "none": None},
    )
    (request,) = captured
    assert request.method == "PATCH"
    assert request.url.scheme == "https"
    assert request.url.path == "/parties/p/room/x"
    assert parse_qs(request.url.query.decode()) == {"q": ["1 2"]}
    assert request.headers["x-token"] == "t"
    assert json.loads(request.content) == {"a": 1}


@pytest.mark.parametrize(
    ("host", "scheme"),
    [
        ("example.com", "https"),
        ("10.example.com", "https"),
        ("https://127.0.0.1:1999", "https"),
        ("127.0.0.1:1999", "http"),
        ("http://example.com", "http"),
    ],
)
def test_room_address_http_scheme(host: str, scheme: str) -> None:
    assert RoomAddress.create(host, "r").room_url(http=True).startswith(f"{scheme}://")
