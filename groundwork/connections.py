"""TCP_NODELAY on pyinfra's SSH connections.

paramiko leaves Nagle's algorithm on. Each remote command is a few small
writes (channel open, exec request, EOF) that wait on the delayed ACK of the
one before: about 40 ms per command on Linux, which is most of a no-op
converge. pyinfra connects every host before it loads a deploy file and reads
facts only from inside it, so switching Nagle off from the first thing every
deploy file calls (groundwork.runner.fleet_of_run) covers every fact and
every operation of the run.
"""

from __future__ import annotations

import logging
import socket

logger = logging.getLogger("groundwork.connections")


def tcp_socket(connector) -> socket.socket | None:
    """The TCP socket under a connected pyinfra SSH connector, or None.

    None for other connectors (local, docker, ...), hosts that did not connect,
    and connections through a ProxyCommand, whose transport is a pipe.
    """
    client = getattr(connector, "client", None)
    transport = client.get_transport() if client is not None and hasattr(client, "get_transport") else None
    sock = getattr(transport, "sock", None)
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        return sock
    return None


def set_nodelay(hosts) -> list[str]:
    """Switch Nagle off on every host's SSH connection; the names of the hosts it was set for."""
    done = []
    for host in hosts:
        sock = tcp_socket(getattr(host, "connector", None))
        if sock is None:
            continue
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:  # a closed connection: pyinfra reports that itself
            logger.debug("%s: TCP_NODELAY not set: %s", host.name, exc)
            continue
        done.append(host.name)
    logger.debug("TCP_NODELAY set on the SSH connections of: %s", ", ".join(done) or "none")
    return done
