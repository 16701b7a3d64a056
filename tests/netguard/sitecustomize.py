"""Refuse and record any network connection that leaves this machine.

The test suite puts this directory on PYTHONPATH, so every Python process it starts — notebook
kernels, the book build — imports this file at start-up (Python's ``sitecustomize`` hook), and the
test process imports it from conftest. A connection or DNS look-up to anything but loopback raises
``NetworkBlocked`` and is appended to ``$LLMCOURSE_NETWORK_LOG``; the suite fails at the end if
that log is not empty, even when the code under test swallowed the exception.
"""

import ipaddress
import os
import socket

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


class NetworkBlocked(OSError):
    pass


def _is_local(host) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host).strip("[]").lower()
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback or ipaddress.ip_address(host.split("%")[0]).is_unspecified
    except ValueError:
        return False


def _refuse(what: str):
    log = os.environ.get("LLMCOURSE_NETWORK_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"pid {os.getpid()}: {what}\n")
    raise NetworkBlocked(f"network access is not allowed in the test suite: {what}")


def install():
    if getattr(socket, "_llmcourse_guard", False):
        return
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def _target(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            return address[0]
        return None  # unix sockets and the like stay on this machine

    def connect(self, address):
        host = _target(self, address)
        if not _is_local(host):
            _refuse(f"connect to {address!r}")
        return real_connect(self, address)

    def connect_ex(self, address):
        host = _target(self, address)
        if not _is_local(host):
            _refuse(f"connect_ex to {address!r}")
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_local(host):
            _refuse(f"DNS look-up of {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo
    socket._llmcourse_guard = True


install()
