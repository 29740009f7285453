"""WebSocket URL checks and PartyKit room URL building (pure)."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

from .redact import redact_url

__all__ = ["check_ws_url", "RoomAddress", "split_host", "is_local_host", "encode_name", "encode_path", "encode_query"]

_SUGGEST = {"http": "ws", "https": "wss"}


def check_ws_url(url: object) -> str:
    """Return ``url`` if it is a usable ``ws://`` or ``wss://`` URL, else raise.

    ``TypeError`` for a non-string, ``ValueError`` naming the fix otherwise.
    """
    if not isinstance(url, str):
        raise TypeError(
            f"the URL must be a str such as 'wss://example.com/socket' (or a callable returning one), "
            f"got {type(url).__name__}"
        )
    if not url:
        raise ValueError("the URL is empty; pass a ws:// or wss:// URL such as 'wss://example.com/socket'")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise ValueError(f"invalid WebSocket URL {redact_url(url)!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss"):
        if scheme in _SUGGEST:
            hint = f"use {_SUGGEST[scheme]}:// instead of {scheme}://"
        elif not scheme or "://" not in url:
            hint = "add ws:// (or wss:// for TLS) in front of the host"
        else:
            hint = "only ws:// and wss:// are WebSocket schemes"
        raise ValueError(f"invalid WebSocket URL {redact_url(url)!r}: {hint}")
    if not host:
        raise ValueError(f"invalid WebSocket URL {redact_url(url)!r}: it has no host")
    if parts.fragment:
        raise ValueError(f"invalid WebSocket URL {redact_url(url)!r}: a WebSocket URL cannot have a #fragment")
    if parts.username is not None and parts.password is None:
        raise ValueError(
            f"invalid WebSocket URL {redact_url(url)!r}: it has a user name but no password (user:password@ is sent "
            "as HTTP Basic auth); add ':password', or send a token in a header or the query instead"
        )
    return url


# -- PartyKit room addressing --------------------------------------------------

_LOCAL_NETWORK_NAMES = (
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
)


@functools.cache
def _local_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(name) for name in _LOCAL_NETWORK_NAMES)


# Characters kept as they are in a room or party name: everything that cannot
# change the URL's structure. "?", "#", "%", whitespace, control characters and
# non-ASCII are percent-encoded; "/" is kept (and warned about by the socket).
_NAME_SAFE = "/:@!$&'()*+,;=-._~"
# Paths given by the user (base_path, prefix, path) keep "/" and existing escapes.
_PATH_SAFE = _NAME_SAFE + "%"

_SCHEMES = {"http": "ws", "ws": "ws", "https": "wss", "wss": "wss"}


def split_host(raw: str) -> tuple[str, str | None]:
    """``(host, scheme)``: a leading ``http(s)://``/``ws(s)://`` and trailing ``/`` removed.

    ``scheme`` is ``"ws"`` or ``"wss"`` when the host carried one, else ``None``.
    """
    host = raw.strip()
    scheme: str | None = None
    head, sep, rest = host.partition("://")
    if sep and head.lower() in _SCHEMES:
        scheme = _SCHEMES[head.lower()]
        host = rest
    while host.endswith("/"):
        host = host[:-1]
    return host, scheme


def _host_name(host: str) -> str:
    """The host name or IP literal of ``host[:port]``, without brackets."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") > 1:  # a bare IPv6 literal
        return host
    return host.partition(":")[0]


def is_local_host(host: str) -> bool:
    """True for localhost, ``*.localhost`` and loopback, private or link-local IP literals."""
    name = _host_name(host).lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name.partition("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in _local_networks())


def encode_name(name: str) -> str:
    """A room or party name made safe for a URL path segment.

    ``.`` and ``..`` are escaped too, so that no name is read as a dot segment.
    """
    if name in (".", ".."):
        return "%2E" * len(name)
    return quote(name, safe=_NAME_SAFE)


def encode_path(path: str) -> str:
    """A user-given path (``base_path``, ``prefix``, ``path``) with structure characters escaped."""
    return quote(path, safe=_PATH_SAFE)


def encode_query(params: Mapping[str, object]) -> str:
    """``key=value&...`` with ``None`` values omitted and keys and values URL-encoded."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        if not isinstance(key, str):
            raise TypeError(f"query keys must be str, got {key!r}")
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            text = str(value)
        else:
            raise TypeError(
                f"query value for {key!r} must be a str, int, float, bool or None, got {type(value).__name__}"
            )
        pairs.append((key, text))
    return urlencode(pairs)


@dataclass(frozen=True, slots=True)
class RoomAddress:
    """Where a PartyKit room lives; builds its WebSocket and HTTP URLs.

    ``{scheme}://{host}/{base_path or prefix/party/room}{/path}``; the scheme is
    ``protocol`` when given, else the one carried by ``host``, else ``ws``/``http``
    for local hosts (:func:`is_local_host`) and ``wss``/``https`` for all others.
    """

    host: str
    room: str | None = None
    party: str = "main"
    base_path: str | None = None
    prefix: str | None = None
    path: str | None = None
    protocol: str | None = None  # "ws" or "wss"

    @classmethod
    def create(
        cls,
        host: object,
        room: object = None,
        *,
        party: object = None,
        base_path: object = None,
        prefix: object = None,
        path: object = None,
        protocol: object = None,
        secure_names: tuple[str, str] = ("ws", "wss"),
    ) -> RoomAddress:
        """Validate and normalise; ``protocol`` may be given as ws/wss or http/https."""
        if not isinstance(host, str):
            raise TypeError(f"host must be a str such as 'localhost:1999', got {type(host).__name__}")
        if not host.strip():
            raise ValueError(
                "host must be a non-empty str such as 'my-project.my-user.partykit.dev' or 'localhost:1999'"
            )
        for name, value in (
            ("room", room),
            ("party", party),
            ("base_path", base_path),
            ("prefix", prefix),
            ("path", path),
        ):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a str or None, got {type(value).__name__}")
        if isinstance(path, str) and path.startswith("/"):
            raise ValueError(f"path must not start with '/': pass {path.lstrip('/')!r} instead of {path!r}")
        stripped, carried = split_host(host)
        if not stripped:
            raise ValueError(f"host {host!r} has no host name")
        if any(char in "/?#@\\" or char.isspace() or not char.isprintable() for char in stripped):
            raise ValueError(
                f"host must be a host name with an optional port, such as 'localhost:1999', "
                f"got {host.partition('?')[0]!r}; "
                "put paths in base_path, prefix or path, and query parameters in query"
            )
        scheme: str | None = None
        if protocol is not None:
            if not isinstance(protocol, str):
                raise TypeError(f"protocol must be a str ({secure_names[0]!r} or {secure_names[1]!r}) or None")
            if protocol not in ("ws", "wss", "http", "https"):
                raise ValueError(f"protocol must be {secure_names[0]!r} or {secure_names[1]!r}, got {protocol!r}")
            scheme = _SCHEMES[str(protocol)]
        return cls(
            host=stripped,
            room=room,  # type: ignore[arg-type]
            party=party if party is not None else "main",  # type: ignore[arg-type]
            base_path=base_path,  # type: ignore[arg-type]
            prefix=prefix,  # type: ignore[arg-type]
            path=path,  # type: ignore[arg-type]
            protocol=scheme or carried,
        )

    @property
    def ws_scheme(self) -> str:
        if self.protocol is not None:
            return self.protocol
        return "ws" if is_local_host(self.host) else "wss"

    def room_path(self) -> str:
        if self.base_path:
            base = encode_path(self.base_path)
        else:
            prefix = encode_path(self.prefix) if self.prefix else "parties"
            base = f"{prefix}/{encode_name(self.party)}/{encode_name(self.room or '')}"
        tail = f"/{encode_path(self.path)}" if self.path else ""
        return f"/{base}{tail}"

    def room_url(self, http: bool = False) -> str:
        """The room's URL without a query (``http``/``https`` with ``http=True``)."""
        scheme = self.ws_scheme
        if http:
            scheme = "https" if scheme == "wss" else "http"
        return f"{scheme}://{self.host}{self.room_path()}"

    def url(self, query: Mapping[str, object], http: bool = False) -> str:
        """The room URL with ``query`` (``None`` values omitted; no ``?`` when empty)."""
        encoded = encode_query(query)
        base = self.room_url(http)
        return f"{base}?{encoded}" if encoded else base
