"""SSRF guard: a webhook URL must be http(s) without credentials, and every address its host resolves to
must be public (no loopback, link-local, private, multicast, reserved or unspecified address), unless
`CRM_WEBHOOK_ALLOW_PRIVATE` is on (development only). Delivery connects to the address checked here
(the host name goes in `Host` and TLS SNI), so a DNS answer that changes between check and connect
(rebinding) cannot reach an internal address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from resolvers.errors import BadInput

MAX_URL_LENGTH = 2000
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The URL or one of its addresses may not be called."""


@dataclass(frozen=True)
class Target:
    url: SplitResult
    host: str
    port: int
    address: str  # the checked address to connect to

    @property
    def pinned_url(self) -> str:
        """The URL with the checked address in place of the host name."""
        literal = f"[{self.address}]" if ":" in self.address else self.address
        return self.url._replace(netloc=f"{literal}:{self.port}").geturl()

    @property
    def host_header(self) -> str:
        default = 443 if self.url.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


def parse(url: str, *, production: bool) -> SplitResult:
    """Syntax only (BAD_USER_INPUT naming `url`); `resolve` checks the addresses."""
    parts = urlsplit(url.strip())
    if len(url) > MAX_URL_LENGTH or "\x00" in url:
        raise BadInput(f"url: at most {MAX_URL_LENGTH} characters", field="url")
    allowed = ("https",) if production else ("https", "http")
    if parts.scheme not in allowed or not parts.hostname:
        raise BadInput(f"url must be an absolute {' or '.join(allowed)} URL", field="url")
    if parts.username or parts.password:
        raise BadInput("url must not carry a user name or password", field="url")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise BadInput("url has an invalid port", field="url") from exc
    return parts


def public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


async def resolve(parts: SplitResult, *, allow_private: bool) -> Target:
    """Every address of the host, checked; raises Refused naming the first refused one."""
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Refused(f"cannot resolve {host}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise Refused(f"cannot resolve {host}")
    if not allow_private:
        for raw in addresses:
            if not public(ipaddress.ip_address(raw.split("%")[0])):
                raise Refused(f"{host} resolves to a non-public address ({raw})")
    return Target(parts, host, port, addresses[0])
