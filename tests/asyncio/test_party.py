"""PartySocket (asyncio): the room URL it connects to, its attributes and update_properties.

Connection tests use the real ``TestServer`` on 127.0.0.1 and check what the
server saw (``server.paths``: request path and query of every handshake).
Tests of attributes, warnings and validation that need no connection build the
socket with ``start_closed=True`` (allowed outside a running loop).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urljoin, urlsplit

import pytest

import partysocket
from partysocket import Event, PartySocket
from tests.servers import TIMEOUT, TestServer, wait_until

#: Fast automatic reconnection, so a dropped connection comes back at once.
FAST: dict[str, Any] = {"min_reconnection_delay": 0.01, "max_reconnection_delay": 0.05}


def host_of(server: TestServer) -> str:
    return f"127.0.0.1:{server.port}"


def path_of(server: TestServer, index: int = -1) -> str:
    return urlsplit(server.paths[index]).path


class Opens:
    """Counts ``open`` events; ``await opens.reach(n)`` waits (on events) for the n-th one."""

    def __init__(self, ws: PartySocket) -> None:
        self.count = 0
        self._changed = asyncio.Event()
        ws.add_event_listener("open", self._on_open)

    def _on_open(self, event: Event) -> None:
        self.count += 1
        self._changed.set()

    async def reach(self, n: int, timeout: float = TIMEOUT) -> None:
        async def wait() -> None:
            while self.count < n:
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(wait(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"timed out waiting for open #{n} (saw {self.count})") from None


async def drop_and_reopen(server: TestServer, opens: Opens) -> None:
    """Abort the server side of the open connection and wait for the automatic reconnection."""
    n = opens.count
    await wait_until(lambda: len(server.connections) == 1, what="the server to hold the connection")
    server.drop_all()
    await opens.reach(n + 1)


# -- the URL a PartySocket connects to -------------------------------------------------


async def test_connects_to_parties_main_room_with_pk() -> None:
    async with TestServer() as server:
        ws = PartySocket(host_of(server), "room", **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            assert path_of(server) == "/parties/main/room"
            assert server.query(0) == {"_pk": [ws.id]}
            assert ws.url == f"ws://127.0.0.1:{server.port}/parties/main/room?_pk={ws.id}"
            assert ws.room_url == f"ws://127.0.0.1:{server.port}/parties/main/room"
            assert ws.send("hello") is True
            assert await ws.recv() == "hello"
        finally:
            await ws.aclose()
        assert ws.ready_state == partysocket.CLOSED


async def test_party_prefix_and_path_reach_the_server() -> None:
    async with TestServer() as server:
        ws = PartySocket(host_of(server), "my-room", party="chat", prefix="rooms", path="sub/deeper", **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            assert path_of(server) == "/rooms/chat/my-room/sub/deeper"
            assert ws.room_url == f"ws://127.0.0.1:{server.port}/rooms/chat/my-room/sub/deeper"
        finally:
            await ws.aclose()


async def test_base_path_takes_precedence_and_needs_no_room() -> None:
    async with TestServer() as server:
        with_room = PartySocket(
            host_of(server), "ignored-room", party="ignored", prefix="ignored", base_path="custom/base", path="p"
        )
        no_room = PartySocket(host_of(server), base_path="only/base")
        try:
            await with_room.wait_open(TIMEOUT)
            await no_room.wait_open(TIMEOUT)
            assert sorted(urlsplit(p).path for p in server.paths) == ["/custom/base/p", "/only/base"]
            assert with_room.base_path == "custom/base"
            assert no_room.base_path == "only/base"
            assert no_room.room is None
        finally:
            await with_room.aclose()
            await no_room.aclose()


@pytest.mark.parametrize("scheme", ["http://", "ws://"])
@pytest.mark.parametrize("slash", ["", "/"])
async def test_host_with_plain_scheme_and_trailing_slash_connects(scheme: str, slash: str) -> None:
    async with TestServer() as server:
        ws = PartySocket(f"{scheme}127.0.0.1:{server.port}{slash}", "room", **FAST)
        try:
            assert ws.host == f"127.0.0.1:{server.port}"
            await ws.wait_open(TIMEOUT)
            assert path_of(server) == "/parties/main/room"
            assert ws.url.startswith(f"ws://127.0.0.1:{server.port}/parties/main/room?")
        finally:
            await ws.aclose()


@pytest.mark.parametrize("scheme", ["https://", "wss://"])
async def test_explicit_protocol_overrides_the_host_scheme(scheme: str) -> None:
    async with TestServer() as server:
        ws = PartySocket(f"{scheme}127.0.0.1:{server.port}/", "room", protocol="ws", **FAST)
        try:
            assert ws.room_url == f"ws://127.0.0.1:{server.port}/parties/main/room"
            await ws.wait_open(TIMEOUT)
            assert path_of(server) == "/parties/main/room"
        finally:
            await ws.aclose()


async def test_subprotocols_are_passed_through() -> None:
    async with TestServer(subprotocols=["chat.v2"]) as server:
        ws = PartySocket(host_of(server), "room", protocols=["chat.v2"], **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            assert ws.protocol == "chat.v2"
        finally:
            await ws.aclose()


# -- protocol auto-detection and host scheme (no connection) ------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost:1999", "ws://localhost:1999"),
        ("localhost", "ws://localhost"),
        ("app.localhost:1999", "ws://app.localhost:1999"),
        ("127.0.0.1:1999", "ws://127.0.0.1:1999"),
        ("127.8.9.10", "ws://127.8.9.10"),
        ("[::1]:1999", "ws://[::1]:1999"),
        ("[::ffff:7f00:1]:1999", "ws://[::ffff:7f00:1]:1999"),
        ("[::ffff:127.0.0.1]:1999", "ws://[::ffff:127.0.0.1]:1999"),
        ("10.0.0.1", "ws://10.0.0.1"),
        ("172.16.0.1", "ws://172.16.0.1"),
        ("172.31.255.255", "ws://172.31.255.255"),
        ("192.168.1.1", "ws://192.168.1.1"),
        ("[fd00::1]:1999", "ws://[fd00::1]:1999"),
        ("169.254.1.1", "ws://169.254.1.1"),
        ("[fe80::1]", "ws://[fe80::1]"),
        ("172.15.0.1", "wss://172.15.0.1"),
        ("172.32.0.1", "wss://172.32.0.1"),
        ("10.example.com", "wss://10.example.com"),
        ("192.168.example.com", "wss://192.168.example.com"),
        ("example.com", "wss://example.com"),
        ("8.8.8.8", "wss://8.8.8.8"),
        ("http://example.com", "ws://example.com"),
        ("https://localhost:1999", "wss://localhost:1999"),
        ("wss://192.168.1.1/", "wss://192.168.1.1"),
        ("ws://example.com/", "ws://example.com"),
    ],
)
def test_protocol_detection_in_room_url(host: str, expected: str) -> None:
    ws = PartySocket(host, "room", start_closed=True)
    assert ws.room_url == f"{expected}/parties/main/room"
    assert ws.roomUrl == ws.room_url


@pytest.mark.parametrize(("protocol", "host"), [("ws", "example.com"), ("wss", "localhost:1999")])
def test_explicit_protocol_overrides_detection(protocol: str, host: str) -> None:
    ws = PartySocket(host, "room", protocol=protocol, start_closed=True)
    assert ws.room_url == f"{protocol}://{host}/parties/main/room"


# -- attributes ----------------------------------------------------------------------


def test_attributes_hold_what_the_user_gave() -> None:
    ws = PartySocket(
        "https://example.com/",
        "my room?",
        party="custom",
        id="conn-1",
        path="sub",
        query={"dynamic": "value"},
        disable_name_validation=True,
        start_closed=True,
    )
    assert ws.id == "conn-1"
    assert ws.host == "example.com"
    assert ws.room == "my room?"
    assert ws.name == "custom"
    assert ws.path == "sub"
    assert ws.base_path is None
    assert ws.room_url == "wss://example.com/parties/custom/my%20room%3F/sub"
    assert ws.roomUrl == ws.room_url
    assert "?" not in ws.room_url
    assert "dynamic" not in ws.room_url


def test_attribute_defaults() -> None:
    ws = PartySocket("example.com", "r", start_closed=True)
    assert ws.name == "main"
    assert ws.path is None
    assert ws.base_path is None
    assert ws.room == "r"
    assert ws.host == "example.com"


@pytest.mark.parametrize("raw", ["example.com", "example.com/", "http://example.com", "wss://example.com/"])
def test_host_attribute_has_no_scheme_or_trailing_slash(raw: str) -> None:
    assert PartySocket(raw, "r", start_closed=True).host == "example.com"


def test_base_path_attribute() -> None:
    ws = PartySocket("example.com", "room", base_path="custom/base/path", start_closed=True)
    assert ws.base_path == "custom/base/path"
    assert ws.room_url == "wss://example.com/custom/base/path"


# -- id ------------------------------------------------------------------------------------


async def test_default_id_is_a_fresh_uuid4_sent_as_pk() -> None:
    async with TestServer() as server:
        first = PartySocket(host_of(server), "room", **FAST)
        second = PartySocket(host_of(server), "room", **FAST)
        try:
            await first.wait_open(TIMEOUT)
            await second.wait_open(TIMEOUT)
            for ws in (first, second):
                parsed = uuid.UUID(ws.id)
                assert parsed.version == 4
                assert str(parsed) == ws.id
            assert first.id != second.id
            sent = sorted(parse_qs(urlsplit(p).query)["_pk"][0] for p in server.paths)
            assert sent == sorted([first.id, second.id])
        finally:
            await first.aclose()
            await second.aclose()


async def test_explicit_id_is_kept_across_reconnections() -> None:
    async with TestServer() as server:
        ws = PartySocket(host_of(server), "room", id="my-client", **FAST)
        opens = Opens(ws)
        try:
            await opens.reach(1)
            await drop_and_reopen(server, opens)
            ws.reconnect()
            await opens.reach(3)
            assert ws.id == "my-client"
            assert [server.query(i)["_pk"] for i in range(3)] == [["my-client"]] * 3
        finally:
            await ws.aclose()


def test_default_ids_differ_without_connecting() -> None:
    ids = {PartySocket("example.com", "r", start_closed=True).id for _ in range(20)}
    assert len(ids) == 20
    assert all(uuid.UUID(i).version == 4 for i in ids)


# -- query -----------------------------------------------------------------------------------


async def test_query_dict_is_encoded_and_none_omitted() -> None:
    query = {
        "space key": "a value with spaces",
        "amp&key": "x&y=z",
        "eq=": "1=1",
        "uni": "café ☕ 日本",
        "plus": "1+1",
        "skipped": None,
        "n": 5,
    }
    async with TestServer() as server:
        ws = PartySocket(host_of(server), "room", query=query, **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            assert server.query(0) == {
                "_pk": [ws.id],
                "space key": ["a value with spaces"],
                "amp&key": ["x&y=z"],
                "eq=": ["1=1"],
                "uni": ["café ☕ 日本"],
                "plus": ["1+1"],
                "n": ["5"],
            }
            raw = urlsplit(server.paths[0]).query
            assert "skipped" not in raw
            assert raw.isascii()
            assert " " not in raw
            assert raw.startswith(f"_pk={ws.id}&")
        finally:
            await ws.aclose()


def make_provider(flavour: str, calls: list[int]) -> Callable[[], Any]:
    """A query provider counting its calls; the token changes on every call."""

    def value() -> dict[str, object]:
        calls.append(1)
        return {"token": f"t{len(calls)}", "gone": None}

    if flavour == "sync":
        return value

    async def async_value() -> dict[str, object]:
        await asyncio.sleep(0)
        return value()

    return async_value


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_query_provider_is_resolved_before_every_attempt(flavour: str) -> None:
    calls: list[int] = []
    async with TestServer() as server:
        ws = PartySocket(host_of(server), "room", query=make_provider(flavour, calls), **FAST)
        opens = Opens(ws)
        try:
            await opens.reach(1)
            assert len(calls) == 1
            assert server.query(0) == {"_pk": [ws.id], "token": ["t1"]}
            await drop_and_reopen(server, opens)  # automatic attempt
            await drop_and_reopen(server, opens)
            ws.reconnect()  # manual attempt
            await opens.reach(4)
            assert len(calls) == 4
            assert len(server.paths) == 4
            assert [server.query(i)["token"] for i in range(4)] == [["t1"], ["t2"], ["t3"], ["t4"]]
            assert all("gone" not in p for p in server.paths)
            assert all(server.query(i)["_pk"] == [ws.id] for i in range(4))
            assert ws.url.endswith("token=t4")
        finally:
            await ws.aclose()


async def test_query_provider_counts_failed_attempts_too() -> None:
    calls: list[int] = []
    async with TestServer() as server:
        ws = PartySocket(host_of(server), "room", query=make_provider("sync", calls), **FAST)
        opens = Opens(ws)
        try:
            await opens.reach(1)
            server.refuse(503)
            await wait_until(lambda: len(server.connections) == 1, what="the server to hold the connection")
            server.drop_all()
            await wait_until(lambda: len(server.paths) >= 3, what="two refused attempts")
            server.accept()
            await opens.reach(2)
            assert len(calls) == len(server.paths)
            assert server.query(-1)["token"] == [f"t{len(calls)}"]
        finally:
            await ws.aclose()


# -- room and party names cannot change the URL ----------------------------------------------

HOSTILE_NAMES = [
    "my room",
    "a?b=c",
    "a#frag",
    "tab\tname",
    "new\nline\r",
    "ctl\x00\x01\x1b\x7f",
    "x&_pk=evil",
    "?_pk=evil#x",
    "100%25",
    "café ☕",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
async def test_room_name_is_percent_encoded_on_the_wire(name: str) -> None:
    async with TestServer() as server:
        ws = PartySocket(host_of(server), name, id="me", **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            parts = urlsplit(server.paths[0])
            segments = parts.path.split("/")
            assert segments[:3] == ["", "parties", "main"]
            assert len(segments) == 4
            assert unquote(segments[3]) == name
            assert parse_qs(parts.query) == {"_pk": ["me"]}
            assert ws.room == name
        finally:
            await ws.aclose()


@pytest.mark.parametrize("name", HOSTILE_NAMES)
async def test_party_name_is_percent_encoded_on_the_wire(name: str) -> None:
    async with TestServer() as server:
        ws = PartySocket(host_of(server), "room", party=name, id="me", **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            parts = urlsplit(server.paths[0])
            segments = parts.path.split("/")
            assert len(segments) == 4
            assert segments[1] == "parties"
            assert unquote(segments[2]) == name
            assert segments[3] == "room"
            assert parse_qs(parts.query) == {"_pk": ["me"]}
            assert ws.name == name
        finally:
            await ws.aclose()


# -- "/" in names: a warning on the "partysocket" logger -----------------------------------


def warnings_from(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "partysocket" and r.levelno == logging.WARNING]


def test_slash_in_room_warns(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="partysocket")
    PartySocket("example.com", "bad/room", start_closed=True)
    messages = warnings_from(caplog)
    assert len(messages) == 1
    assert "bad/room" in messages[0]
    assert "room" in messages[0]


def test_slash_in_party_warns(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="partysocket")
    PartySocket("example.com", "room", party="bad/party", start_closed=True)
    messages = warnings_from(caplog)
    assert len(messages) == 1
    assert "bad/party" in messages[0]


def test_slash_in_both_warns_twice(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="partysocket")
    PartySocket("example.com", "bad/room", party="bad/party", start_closed=True)
    messages = warnings_from(caplog)
    assert len(messages) == 2
    assert any("bad/room" in m for m in messages)
    assert any("bad/party" in m for m in messages)


def test_disable_name_validation_silences_the_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="partysocket")
    ws = PartySocket("example.com", "bad/room", party="bad/party", disable_name_validation=True, start_closed=True)
    ws.update_properties(room="other/room")
    assert warnings_from(caplog) == []
    assert ws.room_url == "wss://example.com/parties/bad/party/other/room"


def test_valid_names_do_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="partysocket")
    ws = PartySocket("example.com", "valid-room", party="valid-party", start_closed=True)
    ws.update_properties(room="still-valid")
    assert warnings_from(caplog) == []


def test_update_properties_warns_for_slash(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="partysocket")
    ws = PartySocket("example.com", "room", start_closed=True)
    assert warnings_from(caplog) == []
    ws.update_properties(room="new/room")
    messages = warnings_from(caplog)
    assert len(messages) == 1
    assert "new/room" in messages[0]


# -- update_properties -------------------------------------------------------------------------


async def test_update_properties_does_not_reconnect_and_applies_on_automatic_retry() -> None:
    async with TestServer() as server:
        ws = PartySocket(
            host_of(server), "room1", party="p", prefix="x", path="sub", id="fixed", query={"a": "1"}, **FAST
        )
        opens = Opens(ws)
        try:
            await opens.reach(1)
            first_url = ws.url
            ws.update_properties(room="room2")
            # Nothing happened to the live connection: it still echoes, no new handshake.
            assert ws.ready_state == partysocket.OPEN
            assert ws.send("still here") is True
            assert await ws.recv() == "still here"
            assert len(server.paths) == 1
            assert ws.url == first_url
            # The attributes changed at once, every unspecified one kept.
            assert ws.room == "room2"
            assert ws.name == "p"
            assert ws.id == "fixed"
            assert ws.path == "sub"
            assert ws.room_url == f"ws://127.0.0.1:{server.port}/x/p/room2/sub"
            await drop_and_reopen(server, opens)
            assert len(server.paths) == 2
            assert path_of(server) == "/x/p/room2/sub"
            assert server.query() == {"_pk": ["fixed"], "a": ["1"]}
        finally:
            await ws.aclose()


async def test_update_properties_applies_on_manual_reconnect() -> None:
    async with TestServer() as server:
        ws = PartySocket(host_of(server), "room1", party="p", id="fixed", **FAST)
        opens = Opens(ws)
        try:
            await opens.reach(1)
            ws.update_properties(party="q")
            assert len(server.paths) == 1
            ws.reconnect()
            await opens.reach(2)
            assert path_of(server) == "/parties/q/room1"
            assert server.query() == {"_pk": ["fixed"]}
            assert ws.room == "room1"
            assert ws.name == "q"
        finally:
            await ws.aclose()


async def test_update_properties_each_field() -> None:
    async with TestServer() as server:
        ws = PartySocket(host_of(server), "r", party="p", id="id1", query={"k": "v1"}, **FAST)
        opens = Opens(ws)
        try:
            await opens.reach(1)
            steps: list[tuple[dict[str, Any], str, dict[str, list[str]]]] = [
                ({"id": "id2"}, "/parties/p/r", {"_pk": ["id2"], "k": ["v1"]}),
                ({"query": {"k": "v2", "z": None}}, "/parties/p/r", {"_pk": ["id2"], "k": ["v2"]}),
                ({"path": "extra"}, "/parties/p/r/extra", {"_pk": ["id2"], "k": ["v2"]}),
                ({"prefix": "rooms"}, "/rooms/p/r/extra", {"_pk": ["id2"], "k": ["v2"]}),
                ({"base_path": "fixed/base"}, "/fixed/base/extra", {"_pk": ["id2"], "k": ["v2"]}),
                ({"base_path": None, "path": None}, "/rooms/p/r", {"_pk": ["id2"], "k": ["v2"]}),
                ({"room": "r2", "party": "p2", "query": None}, "/rooms/p2/r2", {"_pk": ["id2"]}),
            ]
            for number, (changes, path, query) in enumerate(steps, start=2):
                ws.update_properties(**changes)
                ws.reconnect()
                await opens.reach(number)
                assert (path_of(server), server.query()) == (path, query), changes
            assert ws.id == "id2"
        finally:
            await ws.aclose()


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_update_properties_with_query_provider(flavour: str) -> None:
    calls: list[int] = []
    async with TestServer() as server:
        ws = PartySocket(host_of(server), "r", query={"static": "1"}, **FAST)
        opens = Opens(ws)
        try:
            await opens.reach(1)
            ws.update_properties(query=make_provider(flavour, calls))
            assert calls == []
            await drop_and_reopen(server, opens)
            ws.reconnect()
            await opens.reach(3)
            assert len(calls) == 2
            assert [server.query(i).get("token") for i in range(3)] == [None, ["t1"], ["t2"]]
            assert "static" not in server.query()
        finally:
            await ws.aclose()


async def test_update_properties_moves_to_another_host() -> None:
    async with TestServer() as first, TestServer() as second:
        ws = PartySocket(host_of(first), "room", party="p", id="me", **FAST)
        opens = Opens(ws)
        try:
            await opens.reach(1)
            ws.update_properties(host=f"http://127.0.0.1:{second.port}/")
            assert ws.host == f"127.0.0.1:{second.port}"
            await wait_until(lambda: len(first.connections) == 1, what="the first server to hold the connection")
            first.drop_all()
            await opens.reach(2)
            assert len(first.paths) == 1
            assert len(second.paths) == 1
            assert path_of(second) == "/parties/p/room"
            assert second.query() == {"_pk": ["me"]}
        finally:
            await ws.aclose()


async def test_updateProperties_alias() -> None:
    async with TestServer() as server:
        ws = PartySocket(host_of(server), "room", **FAST)
        opens = Opens(ws)
        try:
            await opens.reach(1)
            ws.updateProperties(room="aliased")
            assert ws.room == "aliased"
            await drop_and_reopen(server, opens)
            assert path_of(server) == "/parties/main/aliased"
        finally:
            await ws.aclose()


def test_update_properties_keeps_unspecified_fields_without_connection() -> None:
    ws = PartySocket(
        "example.com", "r", party="custom", id="abc", prefix="pre", path="sub", protocol="ws", start_closed=True
    )
    ws.update_properties(room="r2")
    assert (ws.host, ws.room, ws.name, ws.id, ws.path) == ("example.com", "r2", "custom", "abc", "sub")
    assert ws.room_url == "ws://example.com/pre/custom/r2/sub"
    ws.update_properties(host="other.example.com")
    assert ws.room_url == "ws://other.example.com/pre/custom/r2/sub"
    assert ws.id == "abc"


def test_update_properties_never_revalidates_others_into_an_error() -> None:
    ws = PartySocket("example.com", start_closed=True)  # no room yet
    ws.update_properties(party="p")
    ws.update_properties(path="sub")
    assert ws.room is None
    assert ws.name == "p"
    ws.update_properties(host="")
    ws.update_properties(room="r")  # still no host: no error until reconnect()
    assert ws.room == "r"
    ws.update_properties(host="example.com")
    assert ws.room_url == "wss://example.com/parties/p/r/sub"


def test_update_properties_rejects_bad_values() -> None:
    ws = PartySocket("example.com", "r", start_closed=True)
    with pytest.raises(ValueError):
        ws.update_properties(path="/bad")
    with pytest.raises(ValueError):
        ws.update_properties(query={"_pk": "x"})
    with pytest.raises(TypeError):
        ws.update_properties(room=5)  # type: ignore[arg-type]
    assert ws.room_url == "wss://example.com/parties/main/r"


# -- start_closed and reconnect() validation ----------------------------------------------------


async def test_start_closed_without_room_then_update_and_reconnect() -> None:
    async with TestServer() as server:
        ws = PartySocket(host_of(server), start_closed=True, id="late", **FAST)
        opens = Opens(ws)
        try:
            assert ws.room is None
            with pytest.raises(ValueError, match="room"):
                ws.reconnect()
            with pytest.raises(ValueError, match="room"):
                ws.reconnect()
            assert server.paths == []
            ws.update_properties(room="late-room")
            ws.reconnect()
            await opens.reach(1)
            assert server.paths == ["/parties/main/late-room?_pk=late"]
        finally:
            await ws.aclose()


async def test_reconnect_without_host_raises() -> None:
    ws = PartySocket("127.0.0.1:1", "room", start_closed=True)
    ws.update_properties(host="")
    assert ws.host == ""
    with pytest.raises(ValueError, match="host"):
        ws.reconnect()
    await ws.aclose()


async def test_reconnect_after_removing_room_raises() -> None:
    ws = PartySocket("127.0.0.1:1", "room", start_closed=True)
    ws.update_properties(room=None)
    with pytest.raises(ValueError, match="room"):
        ws.reconnect()
    await ws.aclose()


def construct(**kwargs: Any) -> None:
    """Build a PartySocket that is expected to fail; close it if it does not."""
    kwargs.setdefault("host", "127.0.0.1:1")
    ws = PartySocket(**kwargs)
    ws.close()


async def test_no_room_and_no_base_path_raises() -> None:
    with pytest.raises(ValueError, match="room"):
        construct()
    with pytest.raises(ValueError, match="room"):
        construct(party="p", path="x")


@pytest.mark.parametrize("host", ["", "   ", "https://", "wss:///"])
async def test_empty_host_raises(host: str) -> None:
    with pytest.raises(ValueError):
        construct(host=host, room="room")


async def test_path_with_leading_slash_raises() -> None:
    with pytest.raises(ValueError, match="path"):
        construct(room="room", path="/invalid")


async def test_query_with_pk_raises() -> None:
    with pytest.raises(ValueError, match="_pk"):
        construct(room="room", query={"_pk": "x"})
    with pytest.raises(ValueError, match="_pk"):
        construct(room="room", query={"_pk": None, "a": "b"})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"room": 5},
        {"room": "r", "party": 5},
        {"room": "r", "path": 5},
        {"room": "r", "prefix": 5},
        {"base_path": 5},
        {"room": "r", "id": 5},
        {"room": "r", "query": "a=b"},
        {"room": "r", "query": [("a", "b")]},
        {"room": "r", "host": 1999},
        {"room": "r", "host": b"127.0.0.1:1"},
        {"room": "r", "protocol": 5},
    ],
    ids=lambda kwargs: ",".join(f"{k}={v!r}" for k, v in kwargs.items()),
)
async def test_wrong_types_raise_type_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        construct(**kwargs)


@pytest.mark.parametrize("protocol", ["ftp", "tcp", "WS://"])
async def test_unknown_protocol_raises_value_error(protocol: str) -> None:
    with pytest.raises(ValueError, match="protocol"):
        construct(room="r", protocol=protocol)


def test_start_closed_allows_no_room_outside_a_loop() -> None:
    ws = PartySocket("example.com", start_closed=True)
    assert ws.room is None
    assert ws.ready_state == partysocket.CLOSED


async def test_failed_construction_leaves_nothing_running() -> None:
    # The conftest fails the test if a task is left; this also checks no handshake happened.
    async with TestServer() as server:
        with pytest.raises(ValueError):
            PartySocket(host_of(server), query={"_pk": "x"}, room="r")
        with pytest.raises(ValueError):
            PartySocket(host_of(server))
        ws = PartySocket(host_of(server), "ok", **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            assert [path_of(server, i) for i in range(len(server.paths))] == ["/parties/main/ok"]
        finally:
            await ws.aclose()


@pytest.mark.parametrize("name", [".", ".."])
async def test_dot_room_names_stay_a_room_segment_on_the_wire(name: str) -> None:
    # Servers normalise "." and ".." path segments away (RFC 3986 section 5.2.4), so
    # an unescaped dot name would address /parties/main or /parties instead of the room.
    async with TestServer() as server:
        ws = PartySocket(host_of(server), name, **FAST)
        try:
            await ws.wait_open(TIMEOUT)
            normalised = urlsplit(urljoin(f"http://127.0.0.1:{server.port}/", path_of(server))).path
            segments = normalised.split("/")
            assert segments[:3] == ["", "parties", "main"]
            assert len(segments) == 4
            assert unquote(segments[3]) == name
        finally:
            await ws.aclose()


@pytest.mark.parametrize("fields", [{"room": ""}, {"room": None, "base_path": ""}])
def test_an_empty_room_or_base_path_counts_as_missing(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="room"):
        PartySocket("localhost:1999", **fields)


async def test_reconnect_with_an_empty_room_raises() -> None:
    ws = PartySocket("localhost:1999", "r", start_closed=True)
    ws.update_properties(room="")
    with pytest.raises(ValueError, match="room"):
        ws.reconnect()


async def test_automatic_retry_after_the_room_was_removed_is_an_error_event_not_a_roomless_url() -> None:
    async with TestServer() as server:
        ws = PartySocket(host_of(server), "r1", party="p", max_retries=1, **FAST)
        opens = Opens(ws)
        errors: list[Event] = []
        ws.add_event_listener("error", errors.append)
        try:
            await opens.reach(1)
            ws.update_properties(room=None)
            server.drop_all()
            await wait_until(lambda: ws.should_reconnect is False, what="the socket to give up")
            assert len(server.paths) == 1  # no attempt reached the server without a room
            causes = [getattr(event, "error", None) for event in errors]
            assert any(isinstance(cause, ValueError) and "room" in str(cause) for cause in causes), causes
        finally:
            await ws.aclose()


@pytest.mark.parametrize(
    "host", ["example.com/some/path", "127.0.0.1?x=1", "ws://127.0.0.1#frag", "exa mple.com", "user@example.com"]
)
def test_a_host_with_url_structure_in_it_is_a_value_error(host: str) -> None:
    with pytest.raises(ValueError, match="host must be a host name"):
        PartySocket(host, "r")
