"""Who reaches the data tier, derived from the inventory: pure functions.

Postgres on a `db` host and Redis on a `cache` host serve the *other* hosts
that run the app: hosts playing `app`, and hosts of a `worker` group. A
`worker` role that only falls to every host (no `worker` group) adds nobody:
Celery then runs on the app hosts. A host that plays the data role itself
uses its own server over loopback and needs no admission, so a one-host
inventory, or one without groups, stays loopback-only.

Hosts in the `replica` group (never every host: groundwork.topology.hosts_in_group)
are hot standbys of the `db` host: they get replication access to Postgres
only, no Redis.

Hosts come in as Peers (name, address, roles). stack.py builds them from the
pyinfra inventory, the verify tests from the inventory file
(groundwork.ports.peers_of); the components get the finished values.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from types import SimpleNamespace

from pyinfra.api.exceptions import PyinfraError

from .topology import has_role

CLIENT_ROLES = ("app", "worker")
REPLICA_GROUP = "replica"
# Roles that fall to every host when no host is grouped into them (groundwork.topology).
FALLING_ROLES = ("db", "cache", "app", "web")


@dataclass(frozen=True)
class Peer:
    """Another host of the inventory: its address and roles (`replica` among them)."""

    address: str | None
    roles: frozenset[str]
    name: str = ""


@dataclass(frozen=True)
class ReplicationClient:
    cidr: str  # the replica's address as a /32 or /128
    slot: str  # its physical replication slot on the primary


@dataclass(frozen=True)
class PostgresAccess:
    """What a Postgres server listens on and admits besides loopback."""

    listen_addresses: tuple[str, ...]
    allowed_clients: tuple[str, ...]  # pg_hba `host all all` entries
    replication_user: str
    replicas: tuple[ReplicationClient, ...] = ()


LOOPBACK_POSTGRES = ("localhost",)
LOOPBACK_REDIS = ("127.0.0.1", "-::1")


def host_address(data) -> str | None:
    """The address other hosts reach a host on: private_address, else ssh_hostname."""
    return data.get("private_address") or data.get("ssh_hostname")


def peers_of(hosts: Iterable, me: str) -> list[Peer]:
    """The hosts of an inventory other than `me` as Peers.

    `hosts` have `.name`, `.groups` and `.data` (pyinfra hosts, or
    groundwork.testing.inventory.InventoryHost).
    """
    hosts = list(hosts)
    everyone = [h.groups for h in hosts]
    return [Peer(host_address(h.data), peer_roles(h.groups, everyone), h.name) for h in hosts if h.name != me]


def postgres_access_in(hosts: Iterable, me, settings) -> PostgresAccess:
    """postgres_access for host `me` of `hosts` with its PostgresSettings."""
    hosts = list(hosts)
    return postgres_access(
        me.name, host_address(me.data), peer_roles(me.groups, [h.groups for h in hosts]), peers_of(hosts, me.name),
        settings.replication_user, settings.listen_addresses, settings.allowed_clients,
    )


def redis_bind_in(hosts: Iterable, me, settings) -> tuple[str, ...]:
    """redis_bind for host `me` of `hosts` with its RedisSettings."""
    hosts = list(hosts)
    return redis_bind(
        me.name, host_address(me.data), peer_roles(me.groups, [h.groups for h in hosts]), peers_of(hosts, me.name),
        settings.bind,
    )


def with_derived_values(hosts: Iterable, me, settings: SimpleNamespace) -> SimpleNamespace:
    """`settings` of host `me` with the derived postgres_listen_addresses,
    postgres_allowed_clients and redis_bind in place of null."""
    hosts = list(hosts)
    access = postgres_access_in(hosts, me, settings.postgres)
    return SimpleNamespace(**{
        **vars(settings),
        "postgres": dataclasses.replace(
            settings.postgres, listen_addresses=access.listen_addresses, allowed_clients=access.allowed_clients,
        ),
        "redis": dataclasses.replace(settings.redis, bind=redis_bind_in(hosts, me, settings.redis)),
    })


def peer_roles(groups: Iterable[str], inventory_groups: Iterable[Iterable[str]]) -> frozenset[str]:
    """The roles that matter to the data tier of a host in `groups`."""
    groups = set(groups)
    everyone = [set(g) for g in inventory_groups]
    roles = {role for role in FALLING_ROLES if has_role(groups, role, everyone)}
    roles |= {group for group in ("worker", REPLICA_GROUP) if group in groups}
    return frozenset(roles)


def clients_of(service_role: str, own_roles: Iterable[str], peers: Iterable[Peer]) -> tuple[Peer, ...]:
    """The peers that connect to the `service_role` ('db' or 'cache') server on this host."""
    if service_role not in own_roles:
        return ()
    return tuple(p for p in peers if p.roles & set(CLIENT_ROLES) and service_role not in p.roles)


def replicas_of(own_roles: Iterable[str], peers: Iterable[Peer]) -> tuple[Peer, ...]:
    """The peers that stream from Postgres on this host: the replicas, when it is the db host."""
    if "db" not in own_roles or REPLICA_GROUP in own_roles:
        return ()
    return tuple(p for p in peers if REPLICA_GROUP in p.roles)


def host_cidr(address: str | None, whose: str) -> str:
    """`address` as a one-host network (10.0.0.5/32, fd00::5/128)."""
    ip = ip_of(address, whose)
    return f"{ip}/{ip.max_prefixlen}"


def host_ip(host) -> str:
    """The IP address other hosts reach `host` on (`.name`, `.data`), as text."""
    return str(ip_of(host_address(host.data), host.name))


def ip_of(address: str | None, whose: str):
    try:
        return ipaddress.ip_address(address or "")
    except ValueError:
        raise PyinfraError(
            f"host {whose}: private_address: expected the IP address other hosts reach it on "
            f"(private_address, or ssh_hostname as an IP address), got {address!r}"
        ) from None


def slot_name(host_name: str) -> str:
    """The replication slot of a replica: a valid slot name derived from its inventory name."""
    return ("groundwork_" + re.sub(r"[^a-z0-9_]", "_", host_name.lower()))[:63]


def postgres_access(
    me: str,
    own_address: str | None,
    own_roles: Iterable[str],
    peers: Iterable[Peer],
    replication_user: str,
    listen_addresses: Iterable[str] | None = None,
    allowed_clients: Iterable[str] | None = None,
) -> PostgresAccess:
    """Listen addresses and pg_hba entries of Postgres on host `me`.

    Derived: loopback plus the host's own address when app/worker hosts or
    replicas connect; pg_hba admits exactly those hosts. A hand-set
    `listen_addresses` / `allowed_clients` (not None) replaces its derived value.
    """
    own_roles, peers = set(own_roles), list(peers)
    clients = clients_of("db", own_roles, peers)
    replicas = replicas_of(own_roles, peers)
    if listen_addresses is None:
        listen_addresses = LOOPBACK_POSTGRES
        if clients or replicas:
            listen_addresses = (*LOOPBACK_POSTGRES, str(ip_of(own_address, me)))
    if allowed_clients is None:
        allowed_clients = sorted({host_cidr(p.address, p.name) for p in clients}, key=_network_order)
    return PostgresAccess(
        tuple(listen_addresses), tuple(allowed_clients), replication_user,
        tuple(ReplicationClient(host_cidr(p.address, p.name), slot_name(p.name))
              for p in sorted(replicas, key=lambda p: p.name)),
    )


def redis_bind(
    me: str, own_address: str | None, own_roles: Iterable[str], peers: Iterable[Peer],
    bind: Iterable[str] | None = None,
) -> tuple[str, ...]:
    """Addresses Redis on host `me` binds: a hand-set `bind`, else loopback plus
    the host's own address when app/worker hosts connect."""
    if bind is not None:
        return tuple(bind)
    if clients_of("cache", set(own_roles), list(peers)):
        return (*LOOPBACK_REDIS, str(ip_of(own_address, me)))
    return LOOPBACK_REDIS


def _network_order(cidr: str):
    network = ipaddress.ip_network(cidr, strict=False)
    return network.version, network.network_address.packed
