"""The port contract: components declare what they need opened, and to whom.

Only the firewall deploy turns these openings into ufw rules; no component
calls ufw itself. `openings()` is the one place that knows which component
needs which port:

- SSH: the port sshd is asked to listen on (base_ssh_port), and the port the
  inventory connects on while the two differ (never lock the operator out).
- HTTP/HTTPS: 80 and 443 on hosts with the `web` role (nginx), open to anyone.
- The app's Gunicorn port (app_port) on `app` hosts: open only to the `web`
  hosts that proxy to them from other machines (web hosts without an app of
  their own), so closed when nginx runs beside the app.
- Postgres (postgres_port) on `db` hosts and Redis (redis_port) on `cache`
  hosts: open only to the addresses of the *other* hosts that use them
  (`app` hosts and `worker` group hosts without a server of their own, see
  groundwork.datatier), so closed entirely on a one-host setup. Postgres is
  open to the `replica` hosts too; Redis is not.

A host's address is its host data `private_address` when set, else its
`ssh_hostname`; across hosts it must be an IP address (groundwork.datatier.ip_of
says so, naming the host): set `private_address` where hosts talk to each
other over a private network or the inventory names hosts by DNS name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from types import SimpleNamespace

from .datatier import Peer, clients_of, host_address, peers_of, replicas_of

__all__ = ["ANY", "Opening", "Peer", "host_address", "openings", "peers_of"]

ANY = "any"


@dataclass(frozen=True)
class Opening:
    port: int
    proto: str = "tcp"
    sources: tuple[str, ...] = (ANY,)  # "any", or addresses / networks
    comment: str = ""


def openings(
    settings: SimpleNamespace,
    roles: Iterable[str],
    peers: Iterable[Peer] = (),
    ssh_port_in_use: int | None = None,
) -> list[Opening]:
    """What must be open on a host with `settings` and `roles`, given the other hosts."""
    roles = set(roles)
    peers = list(peers)
    in_use = ssh_port_in_use or 22
    ssh_port = settings.base.ssh_port or in_use
    result = [Opening(ssh_port, comment="ssh")]
    if in_use != ssh_port:
        result.append(Opening(in_use, comment="ssh"))
    if "web" in roles:
        result += [Opening(80, comment="http"), Opening(443, comment="https")]
    postgres_peers = (*clients_of("db", roles, peers), *replicas_of(roles, peers))
    for port, users, comment in (
        (settings.postgres.port, postgres_peers, "postgres"),
        (settings.redis.port, clients_of("cache", roles, peers), "redis"),
    ):
        sources = tuple(sorted({p.address for p in users if p.address}))
        if sources:
            result.append(Opening(port, sources=sources, comment=comment))
    app = getattr(settings, "app", None)
    if "app" in roles and app is not None and app.source:
        proxies = tuple(sorted({p.address for p in peers if "web" in p.roles and "app" not in p.roles and p.address}))
        if proxies:
            port = int(app.bind.rsplit(":", 1)[1]) if app.bind else app.port
            result.append(Opening(port, sources=proxies, comment="app"))
    firewall = getattr(settings, "firewall", None)
    for extra in getattr(firewall, "extra_openings", ()):
        result.append(Opening(extra.port, extra.proto, tuple(extra.sources), extra.comment))
    return result
