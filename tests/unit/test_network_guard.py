import socket

import pytest

from netguard import NonLoopbackConnection


def test_guard_blocks_public_address() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(NonLoopbackConnection):
            sock.connect(("93.184.216.34", 443))
    finally:
        sock.close()


def test_guard_blocks_private_address_and_dns() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(NonLoopbackConnection):
            sock.connect_ex(("10.0.0.1", 80))
    finally:
        sock.close()
    with pytest.raises(NonLoopbackConnection):
        socket.getaddrinfo("api.openai.com", 443)


def test_guard_allows_loopback() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        client.connect(server.getsockname())
    finally:
        client.close()
        server.close()
