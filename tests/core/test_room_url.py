"""PartyKit room addressing in the pure core: host parsing, protocol choice, encoding.

No network and no event loop: these tests exercise ``partysocket.core.url``
(``split_host``, ``is_local_host``, ``encode_name``, ``encode_query`` and
``RoomAddress``), the single place where a PartySocket's URL is built.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urljoin, urlsplit

import pytest

from partysocket.core.url import RoomAddress, encode_name, encode_path, encode_query, is_local_host, split_host

# -- host: scheme and trailing slash ----------------------------------------------


@pytest.mark.parametrize(
    ("raw", "host", "scheme"),
    [
        ("example.com", "example.com", None),
        ("example.com/", "example.com", None),
        ("example.com//", "example.com", None),
        ("http://example.com", "example.com", "ws"),
        ("ws://example.com", "example.com", "ws"),
        ("https://example.com", "example.com", "wss"),
        ("wss://example.com", "example.com", "wss"),
        ("https://example.com/", "example.com", "wss"),
        ("HTTPS://example.com", "example.com", "wss"),
        ("http://localhost:1999/", "localhost:1999", "ws"),
        ("wss://[::1]:1999", "[::1]:1999", "wss"),
    ],
)
def test_split_host_strips_scheme_and_trailing_slash(raw: str, host: str, scheme: str | None) -> None:
    assert split_host(raw) == (host, scheme)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://example.com", "ws://example.com/parties/main/room"),
        ("ws://example.com", "ws://example.com/parties/main/room"),
        ("https://localhost:1999", "wss://localhost:1999/parties/main/room"),
        ("wss://127.0.0.1:1999", "wss://127.0.0.1:1999/parties/main/room"),
        ("https://example.com/", "wss://example.com/parties/main/room"),
        ("http://192.168.1.1/", "ws://192.168.1.1/parties/main/room"),
    ],
)
def test_explicit_scheme_in_host_decides_protocol(raw: str, expected: str) -> None:
    address = RoomAddress.create(raw, "room")
    assert address.room_url() == expected
    assert "://" not in address.host
    assert not address.host.endswith("/")


@pytest.mark.parametrize(
    ("raw", "protocol", "expected"),
    [
        ("https://example.com", "ws", "ws://example.com/parties/main/room"),
        ("http://example.com", "wss", "wss://example.com/parties/main/room"),
        ("wss://localhost:1999", "ws", "ws://localhost:1999/parties/main/room"),
        ("ws://localhost:1999", "wss", "wss://localhost:1999/parties/main/room"),
        ("example.com", "ws", "ws://example.com/parties/main/room"),
        ("localhost:1999", "wss", "wss://localhost:1999/parties/main/room"),
        ("10.0.0.1", "wss", "wss://10.0.0.1/parties/main/room"),
    ],
)
def test_explicit_protocol_overrides_host_scheme_and_detection(raw: str, protocol: str, expected: str) -> None:
    assert RoomAddress.create(raw, "room", protocol=protocol).room_url() == expected


def test_no_double_scheme() -> None:
    url = RoomAddress.create("https://example.com", "my-room").room_url()
    assert url == "wss://example.com/parties/main/my-room"
    assert url.count("://") == 1


# -- protocol auto-detection, decided numerically ---------------------------------

LOCAL_HOSTS = [
    "localhost",
    "localhost:1999",
    "LOCALHOST:1999",
    "app.localhost",
    "my.app.localhost:8080",
    "127.0.0.1",
    "127.0.0.1:1999",
    "127.1.2.3",
    "127.255.255.254:80",
    "[::1]",
    "[::1]:1999",
    "::1",
    "[::ffff:7f00:1]",
    "[::ffff:7f00:1]:1999",
    "[::ffff:127.0.0.1]:1999",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    "10.0.0.1",
    "10.255.255.255:1999",
    "172.16.0.1",
    "172.16.0.1:1999",
    "172.20.10.5",
    "172.31.255.255",
    "192.168.0.1",
    "192.168.1.1:1999",
    "192.168.255.255",
    "[::ffff:10.1.2.3]:1999",
    "[::ffff:c0a8:101]",  # ::ffff:192.168.1.1
    "[::ffff:172.16.0.1]",
    "[fc00::1]",
    "[fd12:3456:789a::1]:1999",
    "fd00::1",
    "169.254.0.1",
    "169.254.169.254:80",
    "[fe80::1]:1999",
    "fe80::1",
    "[febf::1]",
]

REMOTE_HOSTS = [
    "example.com",
    "example.com:443",
    "my-project.my-user.partykit.dev",
    "10.example.com",
    "192.168.example.com",
    "127.0.0.1.example.com",
    "172.16.example.com",
    "localhost.example.com",
    "notlocalhost",
    "mylocalhost:1999",
    "8.8.8.8",
    "8.8.8.8:443",
    "11.0.0.1",
    "9.255.255.255",
    "172.15.0.1",
    "172.15.255.255",
    "172.32.0.1",
    "172.160.0.1",
    "192.169.0.1",
    "192.167.255.255",
    "169.253.0.1",
    "169.255.0.1",
    "128.0.0.1",
    "[2001:4860:4860::8888]",
    "[2001:4860:4860::8888]:443",
    "[::2]",
    "[::ffff:8.8.8.8]",
    "::ffff:808:808",
    "[fbff::1]",
    "[fe00::1]",
    "[fec0::1]",
]


@pytest.mark.parametrize("host", LOCAL_HOSTS)
def test_local_hosts_get_ws_and_http(host: str) -> None:
    assert is_local_host(host) is True
    address = RoomAddress.create(host, "room")
    assert address.room_url() == f"ws://{host}/parties/main/room"
    assert address.room_url(http=True) == f"http://{host}/parties/main/room"


@pytest.mark.parametrize("host", REMOTE_HOSTS)
def test_other_hosts_get_wss_and_https(host: str) -> None:
    assert is_local_host(host) is False
    address = RoomAddress.create(host, "room")
    assert address.room_url() == f"wss://{host}/parties/main/room"
    assert address.room_url(http=True) == f"https://{host}/parties/main/room"


def test_172_range_boundaries_are_numeric() -> None:
    # A string comparison of the second octet ("16" <= x <= "31") gets these wrong.
    for second in range(0, 256):
        expected = 16 <= second <= 31
        assert is_local_host(f"172.{second}.0.1") is expected, second


# -- path layout: party, prefix, base_path, path ------------------------------------


def test_default_party_is_main() -> None:
    address = RoomAddress.create("example.com", "my-room")
    assert address.party == "main"
    assert address.room_url() == "wss://example.com/parties/main/my-room"


def test_party_none_means_main() -> None:
    assert RoomAddress.create("example.com", "r", party=None).room_url() == "wss://example.com/parties/main/r"


def test_custom_party() -> None:
    address = RoomAddress.create("example.com", "my-room", party="custom")
    assert address.room_url() == "wss://example.com/parties/custom/my-room"


def test_prefix_replaces_parties() -> None:
    address = RoomAddress.create("example.com", "my-room", party="custom-party", prefix="rooms")
    assert address.room_url() == "wss://example.com/rooms/custom-party/my-room"


def test_multi_segment_prefix() -> None:
    address = RoomAddress.create("example.com", "r", prefix="api/v1/rooms")
    assert address.room_url() == "wss://example.com/api/v1/rooms/main/r"


def test_base_path_replaces_prefix_party_and_room() -> None:
    address = RoomAddress.create(
        "example.com", "my-room", party="ignored-party", prefix="ignored-prefix", base_path="custom/base/path"
    )
    url = address.room_url()
    assert url == "wss://example.com/custom/base/path"
    for ignored in ("my-room", "ignored-party", "ignored-prefix", "parties"):
        assert ignored not in url


def test_base_path_without_room() -> None:
    assert RoomAddress.create("example.com", None, base_path="abs/path").room_url() == "wss://example.com/abs/path"


def test_path_appended_after_room() -> None:
    address = RoomAddress.create("example.com", "my-room", path="subpath")
    assert address.room_url() == "wss://example.com/parties/main/my-room/subpath"


def test_multi_segment_path_appended() -> None:
    address = RoomAddress.create("example.com", "my-room", path="a/b/c")
    assert address.room_url() == "wss://example.com/parties/main/my-room/a/b/c"


def test_path_appended_after_base_path() -> None:
    address = RoomAddress.create("example.com", "room", base_path="custom/base", path="sub")
    assert address.room_url() == "wss://example.com/custom/base/sub"


def test_path_appended_with_prefix_and_party() -> None:
    address = RoomAddress.create("localhost:1999", "r", party="p", prefix="x", path="y")
    assert address.room_url() == "ws://localhost:1999/x/p/r/y"


@pytest.mark.parametrize("path", ["/invalid", "/", "//x"])
def test_path_with_leading_slash_raises(path: str) -> None:
    with pytest.raises(ValueError, match="path"):
        RoomAddress.create("example.com", "my-room", path=path)


# -- query ----------------------------------------------------------------------


def test_url_puts_pk_and_query_after_room_url() -> None:
    address = RoomAddress.create("example.com", "my-room")
    url = address.url({"_pk": "abc", "foo": "bar", "baz": "qux"})
    assert url == "wss://example.com/parties/main/my-room?_pk=abc&foo=bar&baz=qux"


def test_url_without_query_has_no_question_mark() -> None:
    address = RoomAddress.create("example.com", "my-room")
    assert address.url({}) == "wss://example.com/parties/main/my-room"
    assert address.url({"only": None}) == "wss://example.com/parties/main/my-room"
    assert address.url({}, http=True) == "https://example.com/parties/main/my-room"


def test_encode_query_omits_none_values() -> None:
    encoded = encode_query({"foo": "bar", "null": None, "baz": "qux"})
    assert parse_qsl(encoded, keep_blank_values=True) == [("foo", "bar"), ("baz", "qux")]
    assert "null" not in encoded


def test_encode_query_empty() -> None:
    assert encode_query({}) == ""
    assert encode_query({"a": None, "b": None}) == ""


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("space key", "space value"),
        ("amp&key", "a&b"),
        ("eq=key", "a=b"),
        ("hash#", "x#y"),
        ("q?", "x?y"),
        ("plus+", "1+1"),
        ("percent%", "100%"),
        ("clé", "café ☕ 日本"),
        ("nl", "line1\nline2\r\t"),
        ("empty", ""),
    ],
)
def test_encode_query_round_trips_keys_and_values(key: str, value: str) -> None:
    encoded = encode_query({key: value, "after": "x"})
    # The encoding cannot break the structure: exactly two pairs come back, unchanged.
    assert parse_qsl(encoded, keep_blank_values=True, strict_parsing=True) == [(key, value), ("after", "x")]
    assert encoded.isascii()
    for char in " #?\n\r\t":
        assert char not in encoded
    assert encoded.count("&") == 1
    assert encoded.count("=") == 2


def test_encode_query_scalars() -> None:
    assert parse_qsl(encode_query({"n": 3, "f": 1.5, "t": True, "b": False})) == [
        ("n", "3"),
        ("f", "1.5"),
        ("t", "true"),
        ("b", "false"),
    ]


# -- room and party names cannot change the URL's structure ------------------------

HOSTILE_NAMES = [
    "my room",
    "a?b",
    "a#b",
    "a?x=1#frag",
    "tab\there",
    "new\nline",
    "cr\rlf\n",
    "nul\x00byte",
    "ctl\x01\x1f\x7f",
    "100%",
    "a%2Fb",
    "%3F",
    "café ☕",
    "\u2028sep\u2029",
    "x&_pk=evil",
    "?_pk=evil",
    "#",
    "?",
    " ",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_room_name_cannot_change_url_structure(name: str) -> None:
    address = RoomAddress.create("example.com", name)
    url = address.url({"_pk": "id"})
    parts = urlsplit(url)
    assert parts.scheme == "wss"
    assert parts.netloc == "example.com"
    assert parts.fragment == ""
    assert parse_qsl(parts.query, strict_parsing=True) == [("_pk", "id")]
    segments = parts.path.split("/")
    assert segments[:3] == ["", "parties", "main"]
    assert len(segments) == 4
    assert unquote(segments[3]) == name
    assert url.isascii()
    assert not any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in url)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_party_name_cannot_change_url_structure(name: str) -> None:
    address = RoomAddress.create("example.com", "room", party=name)
    parts = urlsplit(address.url({"_pk": "id"}))
    assert parts.fragment == ""
    assert parse_qsl(parts.query, strict_parsing=True) == [("_pk", "id")]
    segments = parts.path.split("/")
    assert len(segments) == 4
    assert segments[1] == "parties"
    assert unquote(segments[2]) == name
    assert segments[3] == "room"


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_encode_name_round_trips(name: str) -> None:
    encoded = encode_name(name)
    assert unquote(encoded) == name
    for char in "?# \t\r\n\x00":
        assert char not in encoded


def test_encode_name_keeps_ordinary_names_readable() -> None:
    assert encode_name("my-room_1.2~x") == "my-room_1.2~x"


def test_slash_in_names_is_kept_as_a_separator() -> None:
    # Allowed (the socket logs a warning): the name spans two segments, as in the reference.
    assert RoomAddress.create("example.com", "bad/room").room_url() == "wss://example.com/parties/main/bad/room"
    assert RoomAddress.create("example.com", "r", party="a/b").room_url() == "wss://example.com/parties/a/b/r"


@pytest.mark.parametrize("name", [".", ".."])
def test_dot_room_names_do_not_escape_their_segment(name: str) -> None:
    # "." and ".." are dot-segments: every URL normaliser (RFC 3986 section 5.2.4,
    # WHATWG, httpx) removes them, so the room would silently become
    # /parties/main or /parties. After normalisation the room must still be there.
    url = RoomAddress.create("example.com", name).room_url()
    normalised = urljoin(url, urlsplit(url).path)
    segments = urlsplit(normalised).path.split("/")
    assert segments[:3] == ["", "parties", "main"]
    assert len(segments) == 4
    assert unquote(segments[3]) == name


def test_encode_path_keeps_slashes_and_escapes_structure() -> None:
    assert encode_path("a/b/c") == "a/b/c"
    encoded = encode_path("a b?c#d")
    assert "?" not in encoded
    assert "#" not in encoded
    assert " " not in encoded


def test_base_path_cannot_add_query_or_fragment() -> None:
    url = RoomAddress.create("example.com", None, base_path="x?y=1#z").url({"_pk": "id"})
    parts = urlsplit(url)
    assert parse_qsl(parts.query) == [("_pk", "id")]
    assert parts.fragment == ""


def test_path_cannot_add_query_or_fragment() -> None:
    url = RoomAddress.create("example.com", "r", path="sub?a=1#f").url({"_pk": "id"})
    parts = urlsplit(url)
    assert parse_qsl(parts.query) == [("_pk", "id")]
    assert parts.fragment == ""
    assert parts.path.startswith("/parties/main/r/sub")


# -- validation ---------------------------------------------------------------------


@pytest.mark.parametrize("host", ["", "   ", "https://", "ws://", "/", "http:///"])
def test_empty_host_raises_value_error(host: str) -> None:
    with pytest.raises(ValueError):
        RoomAddress.create(host, "room")


@pytest.mark.parametrize("field", ["room", "party", "base_path", "prefix", "path"])
def test_non_str_names_raise_type_error(field: str) -> None:
    kwargs: dict[str, object] = {field: 123}
    room = kwargs.pop("room", "room")
    with pytest.raises(TypeError, match=field):
        RoomAddress.create("example.com", room, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("host", [123, b"example.com", ["example.com"]])
def test_non_str_host_raises_type_error(host: object) -> None:
    with pytest.raises(TypeError):
        RoomAddress.create(host, "room")


@pytest.mark.parametrize("protocol", ["ftp", "WSS://", "tcp"])
def test_unknown_protocol_raises_value_error(protocol: str) -> None:
    with pytest.raises(ValueError, match="protocol"):
        RoomAddress.create("example.com", "room", protocol=protocol)


def test_http_protocol_names_accepted_for_fetch() -> None:
    address = RoomAddress.create("example.com", "room", protocol="http")
    assert address.room_url(http=True) == "http://example.com/parties/main/room"
    address = RoomAddress.create("localhost", "room", protocol="https")
    assert address.room_url(http=True) == "https://localhost/parties/main/room"


def test_encode_query_rejects_unsupported_values() -> None:
    with pytest.raises(TypeError):
        encode_query({"a": object()})
    with pytest.raises(TypeError):
        encode_query({1: "x"})  # type: ignore[dict-item]
