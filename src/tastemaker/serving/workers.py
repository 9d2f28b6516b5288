"""``serve --workers N``: N worker processes, each accepting connections on a socket of its own.

uvicorn's ``--workers`` binds one listening socket and shares it: the first worker to wake accepts every
connection waiting at that moment (its event loop takes up to a backlog's worth in one go), so a client that
opens its keep-alive connections together lands them all on one worker, and that worker answers while the
others idle. The serving bench saw one worker at 140 % of a core and the other at 20 %, and the hour's soak
one worker with 7× the CPU time of the other.

Here each worker binds its own socket to the same address with ``SO_REUSEPORT``: the kernel picks a
listening socket for each new connection by a hash of its addresses, so connections spread over the
workers whatever their timing. uvicorn's supervisor still starts, watches, restarts and stops the
workers; only the socket each one listens on differs. Where the system has no ``SO_REUSEPORT``
(or does not balance with it: only Linux does), :func:`run` falls back to uvicorn's shared socket.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

import uvicorn
from uvicorn.supervisors import multiprocess


def balances() -> bool:
    """Whether this system spreads connections over ``SO_REUSEPORT`` sockets (Linux does)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with ``SO_REUSEPORT`` (not listening yet: the server listens)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class OwnSocketProcess(multiprocess.Process):
    """A uvicorn worker process that binds its own ``SO_REUSEPORT`` socket when it starts."""

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # in the worker process
        super().target([reuse_port_socket(self.config.host, self.config.port)])


def run(app: str, workers: int, **options: Any) -> None:
    """Run the app factory ``app`` (an import string) in ``workers`` processes on ``options``' host and port
    (uvicorn's options otherwise), each on its own socket where the system balances them."""
    if not balances():
        uvicorn.run(app, factory=True, workers=workers, **options)
        return
    config = uvicorn.Config(app, factory=True, workers=workers, **options)
    reuse_port_socket(config.host, config.port).close()  # the address is free: fail here, not in each worker
    shared = multiprocess.Process
    multiprocess.Process = OwnSocketProcess  # the supervisor makes (and remakes) every worker with it
    try:
        multiprocess.Multiprocess(config, sockets=[]).run()
    finally:
        multiprocess.Process = shared
