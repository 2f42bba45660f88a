"""Each component as a step for the current host: whether it runs here (its
role), and the wiring it needs from the inventory. deploys/full.py runs every
step in order; each deploys/<component>.py runs its own.
"""

from __future__ import annotations

from types import SimpleNamespace

from pyinfra import context, host
from pyinfra.api.exceptions import PyinfraError
from pyinfra.facts.server import LinuxDistribution

from .components.app import deploy_app
from .components.backups import deploy_backup_host, deploy_backups
from .components.base import deploy_base
from .components.edge import deploy_edge
from .components.firewall import deploy_firewall, ssh_port_in_use
from .components.postgres import Standby, deploy_postgres, plan_packages, standby_floors
from .components.redis import deploy_redis
from .datatier import REPLICA_GROUP, host_ip, postgres_access_in, redis_bind_in, slot_name
from .deploy import settings_of
from .facts.host import CpuCount
from .ports import openings, peers_of
from .secret import Secret
from .topology import first_host_with_role, host_has_role, hosts_in_group, hosts_with_role, roles_of
from .wiring import app_environment, app_listen, nginx_upstream


def _here(role: str) -> bool:
    return host_has_role(host, role)


def _inventory() -> list:
    return list(context.state.inventory)


def run_base(settings: SimpleNamespace) -> None:
    deploy_base(settings.base)


def run_postgres(settings: SimpleNamespace) -> None:
    replica = REPLICA_GROUP in host.groups
    if not (replica or _here("db")):
        return
    access = postgres_access_in(context.state.inventory, host, settings.postgres)
    deploy_postgres(settings.postgres, access, standby=_standby() if replica else None)


def _standby() -> Standby:
    """How this replica follows the db host (groundwork.deploy refuses any other number of them)."""
    primary = next(h for h in hosts_with_role("db") if REPLICA_GROUP not in h.groups)
    # The primary's own settings: its role's password and port are the ones to connect with.
    theirs = settings_of(primary).postgres
    distro = primary.get_fact(LinuxDistribution)
    version = plan_packages(
        distro["name"] or "", distro["major"] or 0, distro["release_meta"].get("VERSION_CODENAME", ""), theirs,
    ).version
    return Standby(
        primary=primary.name,
        address=host_ip(primary),
        port=theirs.port,
        user=theirs.replication_user,
        password=Secret(theirs.replication_password),
        slot=slot_name(host.name),
        version=version,
        floors=standby_floors(theirs, primary.get_fact(CpuCount)),
    )


def run_redis(settings: SimpleNamespace) -> None:
    if _here("cache"):
        deploy_redis(settings.redis, redis_bind_in(context.state.inventory, host, settings.redis))


def run_backups(settings: SimpleNamespace) -> None:
    backup_hosts = [b for b in hosts_in_group("backup") if b.name != host.name]
    if _here("db"):
        deploy_backups(settings.backups, postgres_port=settings.postgres.port,
                       redis_on_host=_here("cache"), backup_hosts=backup_hosts)
    if "backup" in host.groups:
        deploy_backup_host(settings.backups, db_hosts=[d for d in hosts_with_role("db") if d.name != host.name])


def run_app(settings: SimpleNamespace) -> None:
    if _here("worker") and not _here("app") and settings.celery.app:
        raise PyinfraError(
            f"group worker: {host.name} is not in group app; Celery runs from the app's release, "
            "so worker hosts must be app hosts too"
        )
    if _here("app") and settings.app.source:
        deploy_app(
            app_listen(settings.app, host, _inventory()), settings.celery,
            app_environment(settings, host, _inventory(), settings_of),
            run_migrations=first_host_with_role("app").name == host.name,
            run_worker=_here("worker"),
            run_beat=first_host_with_role("worker").name == host.name,
        )


def run_edge(settings: SimpleNamespace) -> None:
    if _here("web"):
        deploy_edge(settings.nginx, settings.certbot, nginx_upstream(settings, host, _inventory(), settings_of))


def run_firewall(settings: SimpleNamespace) -> None:
    """Last: every component above has declared its ports by now."""
    if settings.firewall.enabled:
        peers = peers_of(context.state.inventory, host.name)
        in_use = ssh_port_in_use()
        deploy_firewall(settings.firewall, openings(settings, roles_of(host), peers, in_use),
                        ssh_port=settings.base.ssh_port or in_use)


STEPS = (run_base, run_postgres, run_redis, run_backups, run_app, run_edge, run_firewall)
