"""Which HTTP proxy, if any, the lean client goes through: read from the environment
the way the SDK path reads it (httpx with ``trust_env``), so both paths of the
gateway reach a vendor the same way.

- ``http_proxy`` / ``https_proxy`` by the upstream's scheme, else ``all_proxy``;
  the variables as the standard library reads them (lower case wins over upper case).
- ``no_proxy``: comma-separated; ``*`` is every host; an IP address or ``localhost``
  matches that host only; a name matches itself and its subdomains (``.example.com``
  only the subdomains, as ``*.example.com``); ``host:port`` that port only;
  ``scheme://host`` that host for that scheme only; ``10.0.0.0/8`` the addresses in it.
- Only ``http://`` proxies are supported; another scheme (``https://``, ``socks5://``)
  is refused with a one-line error rather than ignored.
"""

from __future__ import annotations

import ipaddress
import urllib.request
from base64 import b64encode
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


class ProxyError(ValueError):
    """A proxy setting the lean client cannot honour."""


@dataclass(frozen=True, slots=True)
class Proxy:
    host: str
    port: int
    authorization: str | None  # "Basic ...", from the proxy URL's user and password

    def __repr__(self) -> str:  # the credentials stay out of logs and tracebacks
        return f"Proxy({self.host}:{self.port})"


def proxy_for(scheme: str, host: str, port: int) -> Proxy | None:
    """The proxy for ``scheme://host:port`` from the environment, or None for a direct connection."""
    settings = urllib.request.getproxies()
    if _bypassed(settings.get("no", ""), scheme, host, port):
        return None
    url = settings.get(scheme) or settings.get("all")
    return _parse(url, scheme) if url else None


def _parse(url: str, scheme: str) -> Proxy:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    source = f"the {scheme}_proxy/all_proxy setting"
    if parts.scheme != "http":
        # Never the URL itself in the message: it may carry a password.
        raise ProxyError(f"{source} names a {parts.scheme}:// proxy; the gateway's lean client "
                         "supports http:// proxies only (or set DRUX_GATEWAY_LEAN_OPENAI=false)")
    try:
        port = parts.port or 80
    except ValueError:
        raise ProxyError(f"{source} has an invalid port") from None
    if not parts.hostname:
        raise ProxyError(f"{source} names no proxy host")
    auth = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        auth = "Basic " + b64encode(pair.encode()).decode("ascii")
    return Proxy(parts.hostname, port, auth)


def _bypassed(no_proxy: str, scheme: str, host: str, port: int) -> bool:
    host = host.lower().strip("[]")
    for entry in (e.strip() for e in no_proxy.split(",")):
        if entry == "*":
            return True
        if entry and _matches(entry, scheme, host, port):
            return True
    return False


def _matches(entry: str, scheme: str, host: str, port: int) -> bool:
    want_scheme, _, entry = entry.rpartition("://")
    if want_scheme and want_scheme not in (scheme, "all"):
        return False
    network = _network(entry)
    if network is not None:
        try:
            return ipaddress.ip_address(host) in network
        except ValueError:
            return False
    if "/" in entry:
        return False  # not a name: ignored, as httpx ignores it
    name, _, want_port = entry.lower().partition(":")
    # httpx drops a URL's default port before comparing, so "host:443" never matches https.
    if (want_port and want_port != str(port)) or want_port == str(_DEFAULT_PORTS.get(scheme)):
        return False
    if want_scheme or name == "localhost":
        return host == name
    if name.startswith(("*.", ".")):
        return host.endswith(name.lstrip("*"))
    return host == name or host.endswith("." + name)


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """The addresses an entry names (``10.0.0.1``, ``10.0.0.0/8``, ``::1``, ``[::1]``), else None."""
    address, slash, prefix = entry.partition("/")
    try:
        return ipaddress.ip_network(f"{address.strip('[]')}{slash}{prefix}", strict=False)
    except ValueError:
        return None
