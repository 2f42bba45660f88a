"""The fleet: who runs what, where, and who talks to whom.

One model per run, built from the inventory (pyinfra's, or the one the verify
tests read) with every host's validated settings, answers every "who and
where" question the components ask: a host's roles, the address other hosts
reach it on, the clients of a service, the primary of a replica, the first
host of a role, which web hosts proxy to which app hosts.

Roles are inventory groups: `db` (PostgreSQL), `cache` (Redis), `app`
(Gunicorn), `worker` (Celery), `web` (nginx and certbot); `backup` and
`replica` are played only by the hosts put into them; `monitor` (Prometheus and
Alertmanager) too, except that an inventory of one host monitors itself. A role no host is
grouped into falls to every host, so a one-host inventory without groups runs
the whole stack - except `web` and `worker`, which fall to the hosts of the
`app` role: without a `web` group nginx runs on each app host (behind your own
balancer), and without a `worker` group Celery runs beside the app.

A host's address, for every other host and every purpose (database clients,
pg_hba, Redis bind, nginx upstreams, the firewall, off-host backup copies), is
its host data `private_address`, else its `ssh_hostname`, else its name.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from pyinfra.api.exceptions import PyinfraError

DB = "db"
CACHE = "cache"
APP = "app"
WORKER = "worker"
WEB = "web"
BACKUP = "backup"
REPLICA = "replica"
MONITOR = "monitor"

# Roles that fall to every host when no host is grouped into them.
FALL_TO_EVERY_HOST = (DB, CACHE, APP)
# Roles that, when no host is grouped into them, fall to the hosts of another role.
FALLS_TO = {WEB: APP, WORKER: APP}
# Groups that hold only the hosts put into them: without a backup host there
# is simply no off-host copy, without a replica no standby.
MEMBER_ONLY = (BACKUP, REPLICA)
# Prometheus and Alertmanager: on the hosts put into `monitor`; an inventory of one
# host without that group monitors itself, a fleet without it runs exporters only.
ONE_HOST_FALLBACK = (MONITOR,)
ROLES = (*FALL_TO_EVERY_HOST, *FALLS_TO, *MEMBER_ONLY, *ONE_HOST_FALLBACK)
# The roles whose hosts connect to Postgres and Redis.
CLIENT_ROLES = (APP, WORKER)


def has_role(host_groups: Iterable[str], role: str, inventory_groups: Iterable[Iterable[str]]) -> bool:
    """True when a host with `host_groups` plays `role` in an inventory whose
    hosts have `inventory_groups`."""
    host_groups = set(host_groups)
    if role in host_groups:
        return True
    if role in MEMBER_ONLY:
        return False
    inventory_groups = [set(groups) for groups in inventory_groups]
    if role in ONE_HOST_FALLBACK:
        return len(inventory_groups) == 1 and role not in inventory_groups[0]
    if any(role in groups for groups in inventory_groups):
        return False
    if role in FALLS_TO:
        return has_role(host_groups, FALLS_TO[role], inventory_groups)
    return True


def address_of(data: Mapping[str, Any], name: str) -> str:
    """The address other hosts reach a host on: private_address, else ssh_hostname, else its name."""
    return str(data.get("private_address") or data.get("ssh_hostname") or name)


@dataclass(frozen=True, eq=False)
class FleetHost:
    """One host of the fleet: its name, groups, roles, host data and validated settings.

    `pyinfra_host` is pyinfra's Host during a run (for facts of another host),
    None where the inventory was read without connecting (verify tests).
    """

    name: str
    groups: tuple[str, ...]
    roles: frozenset[str]
    data: Mapping[str, Any] = field(repr=False)
    settings: SimpleNamespace | None = field(default=None, repr=False)
    pyinfra_host: Any = field(default=None, repr=False, compare=False)

    @property
    def sudo(self) -> bool:
        """Whether pyinfra connects to it with sudo (host data `_sudo`)."""
        return bool(self.data.get("_sudo"))

    @property
    def address(self) -> str:
        return address_of(self.data, self.name)

    def plays(self, role: str) -> bool:
        return role in self.roles

    def ip(self) -> str:
        """The address as an IP address; the error names the host when it is not one."""
        return str(self._ip())

    def cidr(self) -> str:
        """The address as a one-host network (10.0.0.5/32, fd00::5/128)."""
        ip = self._ip()
        return f"{ip}/{ip.max_prefixlen}"

    def _ip(self):
        try:
            return ipaddress.ip_address(self.address)
        except ValueError:
            raise PyinfraError(
                f"host {self.name}: private_address: expected the IP address other hosts reach it on "
                f"(private_address, or ssh_hostname as an IP address), got {self.address!r}"
            ) from None


def ips_of(hosts: Iterable[FleetHost]) -> tuple[str, ...]:
    """The hosts' IP addresses, sorted (for firewall sources); an address that is no IP is an error naming the host."""
    return tuple(sorted({h.ip() for h in hosts}))


class Fleet:
    """Every host of one inventory, in inventory order."""

    def __init__(self, hosts: Iterable[FleetHost]):
        self.hosts: tuple[FleetHost, ...] = tuple(hosts)
        self._by_name = {h.name: h for h in self.hosts}

    @classmethod
    def from_inventory(cls, hosts: Iterable, settings: Mapping[str, SimpleNamespace] | None = None) -> Fleet:
        """`hosts` have `.name`, `.groups` and `.data` (pyinfra hosts, whose data
        has `.dict()`, or plain objects with a dict); `settings` by host name."""
        hosts = list(hosts)
        everyone = [set(h.groups) for h in hosts]
        built = []
        for h in hosts:
            data = h.data.dict() if hasattr(h.data, "dict") else dict(h.data)
            roles = frozenset(r for r in ROLES if has_role(h.groups, r, everyone))
            built.append(FleetHost(
                h.name, tuple(h.groups), roles, data,
                (settings or {}).get(h.name), h if hasattr(h, "get_fact") else None,
            ))
        return cls(built)

    def __iter__(self):
        return iter(self.hosts)

    def __len__(self) -> int:
        return len(self.hosts)

    def __getitem__(self, name: str) -> FleetHost:
        return self._by_name[name]

    def with_role(self, role: str) -> list[FleetHost]:
        return [h for h in self.hosts if h.plays(role)]

    def first_with_role(self, role: str) -> FleetHost | None:
        """The one host that runs what must run once (migrations, Celery beat)."""
        return next(iter(self.with_role(role)), None)

    def single_with_role(self, role: str, what: str) -> FleetHost:
        """The one host of `role` that others connect to; ValueError naming `what` otherwise."""
        found = self.with_role(role)
        if len(found) != 1:
            names = ", ".join(h.name for h in found) or "none"
            raise ValueError(f"{what}: expected exactly one host in group {role!r} to connect the app to, found {names}")
        return found[0]

    def others(self, host: FleetHost) -> list[FleetHost]:
        return [h for h in self.hosts if h.name != host.name]

    def clients_of(self, service_role: str, server: FleetHost) -> list[FleetHost]:
        """The other hosts that connect to the `service_role` (db, cache) server on `server`:
        app and worker hosts without a server of their own."""
        if not server.plays(service_role):
            return []
        return [h for h in self.others(server)
                if any(h.plays(r) for r in CLIENT_ROLES) and not h.plays(service_role)]

    def replicas_of(self, server: FleetHost) -> list[FleetHost]:
        """The hosts that stream from Postgres on `server`, when it is the primary."""
        if not server.plays(DB) or server.plays(REPLICA):
            return []
        return sorted((h for h in self.others(server) if h.plays(REPLICA)), key=lambda h: h.name)

    def primary_of(self, replica: FleetHost) -> FleetHost:
        """The db host a replica streams from (problems() refuses any other number of them)."""
        return next(h for h in self.with_role(DB) if not h.plays(REPLICA))

    def upstreams_of(self, web: FleetHost) -> list[FleetHost]:
        """The app hosts nginx on `web` proxies to: its own app when it runs one, else every app host."""
        apps = self.with_role(APP)
        own = [h for h in apps if h.name == web.name]
        return own or apps

    def proxies_of(self, app: FleetHost) -> list[FleetHost]:
        """The web hosts whose nginx proxies to `app`."""
        return [w for w in self.with_role(WEB) if app.name in {u.name for u in self.upstreams_of(w)}]

    def problems(self) -> list[str]:
        """Inventory shapes groundwork refuses, as "host H: groups: ..." messages:
        replicas need exactly one db host to stream from, and must not be it."""
        if not any(h.plays(REPLICA) for h in self.hosts):
            return []
        problems = []
        for h in self.hosts:
            if h.plays(REPLICA) and h.plays(DB):
                why = "in the db group too" if DB in h.groups else "playing db because no host is in the db group"
                problems.append(
                    f"host {h.name}: groups: expected a replica that is not the db host it streams from, got one {why}"
                )
        primaries = [h.name for h in self.hosts if h.plays(DB) and not h.plays(REPLICA)]
        if len(primaries) > 1:
            problems += [
                f"host {name}: groups: expected one db host for the replicas to stream from, got {', '.join(primaries)}"
                for name in primaries
            ]
        return problems
