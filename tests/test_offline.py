"""The suite's network guard refuses and records connections that leave the machine."""

import socket
import subprocess
import sys

import pytest


def test_guard_refuses_outside_connections_in_process(tmp_path, monkeypatch):
    from conftest import netguard

    log = tmp_path / "net.log"
    monkeypatch.setenv("LLMCOURSE_NETWORK_LOG", str(log))
    with pytest.raises(netguard.NetworkBlocked, match="not allowed"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)  # TEST-NET-1, never routable
    with pytest.raises(netguard.NetworkBlocked, match="DNS look-up"):
        socket.getaddrinfo("example.org", 443)
    assert "192.0.2.1" in log.read_text() and "example.org" in log.read_text()


def test_guard_allows_loopback():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=2)
    client.close()
    server.close()


def test_guard_reaches_subprocesses(tmp_path):
    """Kernels and the book build are subprocesses: the guard is on PYTHONPATH for them too."""
    import os

    log = tmp_path / "net.log"
    code = "import socket\ntry:\n    socket.create_connection(('192.0.2.1', 80), timeout=1)\nexcept OSError as e:\n    print(type(e).__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "LLMCOURSE_NETWORK_LOG": str(log)}, timeout=60)
    assert out.stdout.strip() == "NetworkBlocked"
    assert "192.0.2.1" in log.read_text()
