"""Suite-wide fixtures. The network guard fails any test that opens a
non-loopback connection or resolves a non-local host name."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

_LOCAL_NAMES = {"localhost", "ip6-localhost", "ip6-loopback"}
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


class NonLoopbackConnection(AssertionError):
    pass


def _is_loopback(host: Any) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host).strip("[]")
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(sock: socket.socket, address: Any) -> None:
    if sock.family == getattr(socket, "AF_UNIX", None):
        return
    host = address[0] if isinstance(address, tuple) else address
    if not _is_loopback(host):
        raise NonLoopbackConnection(f"test tried to connect to non-loopback address {address!r}")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check(self, address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check(self, address)
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if not _is_loopback(host):
        raise NonLoopbackConnection(f"test tried to resolve non-local host {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


def install_guard() -> None:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo


install_guard()


@pytest.fixture
def drux_env(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Isolated settings: a temporary data dir and no user/project drux.toml.

    The model cache stays the real one so end-to-end tests find assembled weights.
    """
    monkeypatch.setenv("DRUX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DRUX_USER_CONFIG", str(tmp_path / "user.toml"))
    monkeypatch.setenv("DRUX_PROJECT_CONFIG", str(tmp_path / "project.toml"))
    monkeypatch.setenv("DRUX_KEYS_FILE", str(tmp_path / "keys.json"))
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY",
                "MISTRAL_API_KEY", "DEEPSEEK_API_KEY", "XAI_API_KEY", "GROQ_API_KEY",
                "TOGETHER_API_KEY", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    yield tmp_path
