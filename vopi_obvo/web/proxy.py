"""The listener and the reverse proxy in front of it: `HOST:PORT`, trusted peers (pure)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from vopi_obvo.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_listen(value: str) -> tuple[str, int]:
    """`127.0.0.1:8080`, `[::1]:8080` or `:8080` (all addresses)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"must be HOST:PORT such as 127.0.0.1:8080, not {value!r}")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - an explicit ':PORT' asks for all
    return host, int(port)


def listen_address(configured: tuple[str, int], given: str | None) -> tuple[str, int]:
    """The configured listener, or the one `--listen` gives instead."""
    if not given:
        return configured
    try:
        return parse_listen(given)
    except ValueError as exc:
        raise ConfigError(f"--listen {exc}") from None


def parse_networks(
    entries: Sequence[str], section: str, problems: list[str]
) -> tuple[Network, ...]:
    """The trusted proxies; a problem per entry that is not an address or a network."""
    networks: list[Network] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            problems.append(f"[{section}] trusted_proxies: {entry!r} is not an address or network")
    return tuple(networks)


def is_trusted(address: str | None, networks: Sequence[Network]) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(peer: str | None, real_ip_header: str, networks: Sequence[Network]) -> str:
    """The client's address for rate limits: X-Real-IP counts only from a trusted proxy."""
    address = peer or "unknown"
    if is_trusted(address, networks) and real_ip_header.strip():
        return real_ip_header.strip()
    return address
