"""Who reaches Postgres on a host, derived from the fleet.

Postgres on a `db` host serves the *other* hosts that run the app (groundwork.fleet
clients_of): a host that plays `db` itself uses its own server over loopback
and needs no admission, so a one-host inventory stays loopback-only. Hosts in
the `replica` group are hot standbys of the `db` host: they get replication
access only.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from ...fleet import DB, Fleet, FleetHost

LOOPBACK_POSTGRES = ("localhost",)


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
    peer_users: tuple[str, ...] = ()  # roles that log in over the local socket as the system user of their name


def slot_name(host_name: str) -> str:
    """The replication slot of a replica: a valid slot name derived from its inventory name."""
    return ("groundwork_" + re.sub(r"[^a-z0-9_]", "_", host_name.lower()))[:63]


# The Postgres exporter (groundwork.components.monitoring) runs as the system user
# `prometheus` and logs in over the socket as the role of that name: no password anywhere.
MONITOR_ROLE = "prometheus"


def postgres_access(fleet: Fleet, me: FleetHost) -> PostgresAccess:
    """Listen addresses and pg_hba entries of Postgres on `me`.

    Derived: loopback plus the host's own address when app/worker hosts or
    replicas connect; pg_hba admits exactly those hosts. A hand-set
    `postgres_listen_addresses` / `postgres_allowed_clients` (not null)
    replaces its derived value.
    """
    settings = me.settings.postgres
    clients = fleet.clients_of(DB, me)
    replicas = fleet.replicas_of(me)
    listen_addresses = settings.listen_addresses
    if listen_addresses is None:
        listen_addresses = LOOPBACK_POSTGRES
        if clients or replicas:
            listen_addresses = (*LOOPBACK_POSTGRES, me.ip())
    allowed_clients = settings.allowed_clients
    if allowed_clients is None:
        allowed_clients = sorted({c.cidr() for c in clients}, key=_network_order)
    return PostgresAccess(
        tuple(listen_addresses), tuple(allowed_clients), settings.replication_user,
        tuple(ReplicationClient(r.cidr(), slot_name(r.name)) for r in replicas),
        (MONITOR_ROLE,) if _monitored(me) else (),
    )


def _monitored(me: FleetHost) -> bool:
    monitoring = getattr(me.settings, "monitoring", None)
    return bool(monitoring and monitoring.enabled)


def postgres_clients(fleet: Fleet, me: FleetHost) -> list[FleetHost]:
    """The other hosts that connect to Postgres on `me`: app/worker clients and replicas."""
    return [*fleet.clients_of(DB, me), *fleet.replicas_of(me)]


def _network_order(cidr: str):
    network = ipaddress.ip_network(cidr, strict=False)
    return network.version, network.network_address.packed
