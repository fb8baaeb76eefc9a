"""Which network addresses a destination may not reach when private destinations are blocked (SSRF).

Anything that is not a global address is refused: loopback, link-local (which holds the cloud
metadata service, 169.254.169.254), private ranges, shared and reserved space, and the IPv6
equivalents, including IPv4 addresses mapped into IPv6.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

#: Host names that always mean this machine or a cloud metadata service.
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "metadata.google.internal")


def is_blocked_address(address: str) -> bool:
    """True for an IP address a webhook must not reach; an unparsable address is blocked too."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def blocked_host_problem(host: str) -> str | None:
    """Why a host, as written, is refused without resolving it: a private IP literal or a local name."""
    name = host.strip("[]").rstrip(".").lower()
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return f"{host!r} names this machine or a metadata service; private destinations are blocked"
    if is_ip_literal(name) and is_blocked_address(name):
        return f"{host!r} is a loopback, link-local or private address; private destinations are blocked"
    return None


def blocked_url_problem(url: str) -> str | None:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return blocked_host_problem(host) if host else None
