"""Each component as a step for the current host: whether it runs here (its
role), and the wiring it needs from the inventory. deploys/full.py runs every
step in order; each deploys/<component>.py runs its own.
"""

from __future__ import annotations

from types import SimpleNamespace

from pyinfra import context, host
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.facts.server import LinuxDistribution

from .components.app import APP_PACKAGES, deploy_app
from .components.backups import BACKUP_HOST_PACKAGES, BACKUP_PACKAGES, deploy_backup_host, deploy_backups
from .components.base import base_packages, deploy_base
from .components.edge import EDGE_PACKAGES, deploy_edge
from .components.firewall import UFW_PACKAGES, deploy_firewall, ssh_port_in_use
from .components.postgres import Standby, deploy_postgres, distribution_plan, postgres_packages, standby_floors
from .components.redis import REDIS_PACKAGES, deploy_redis
from .datatier import REPLICA_GROUP, host_ip, postgres_access_in, redis_bind_in, slot_name
from .deploy import settings_of
from .facts.host import CpuCount
from .packages import ensure_packages
from .ports import openings, peers_of
from .secret import Secret
from .topology import first_host_with_role, host_has_role, hosts_in_group, hosts_with_role, roles_of
from .wiring import app_environment, app_listen, nginx_upstream


def _here(role: str) -> bool:
    return host_has_role(host, role)


def _inventory() -> list:
    return list(context.state.inventory)


def _runs_postgres() -> bool:
    return REPLICA_GROUP in host.groups or _here("db")


def _runs_app(settings: SimpleNamespace) -> bool:
    return _here("app") and bool(settings.app.source)


def _is_backup_host() -> bool:
    return "backup" in host.groups


def run_packages(settings: SimpleNamespace) -> None:
    """Every package the steps below install on this host, in one apt run.

    Each apt-get run costs seconds of its own on a fresh host; the components'
    own calls then find their packages planned (groundwork.packages). With the
    PGDG repository, Postgres's packages come in a second run, after it is added.
    """
    wanted = base_packages(settings.base)
    if _runs_postgres():
        wanted += postgres_packages(settings.postgres)
    if _here("cache"):
        wanted += REDIS_PACKAGES
    if _here("db"):
        wanted += BACKUP_PACKAGES
    if _is_backup_host():
        wanted += BACKUP_HOST_PACKAGES
    if _runs_app(settings):
        wanted += APP_PACKAGES
    if _here("web"):
        wanted += EDGE_PACKAGES
    if settings.firewall.enabled:
        wanted += UFW_PACKAGES
    install_packages(wanted)


@deploy("Packages")
def install_packages(packages: list[str]) -> None:
    ensure_packages(packages, name="Install the packages of every component")


def run_base(settings: SimpleNamespace) -> None:
    deploy_base(settings.base)


def run_postgres(settings: SimpleNamespace) -> None:
    if not _runs_postgres():
        return
    access = postgres_access_in(context.state.inventory, host, settings.postgres)
    deploy_postgres(settings.postgres, access, standby=_standby() if REPLICA_GROUP in host.groups else None)


def _standby() -> Standby:
    """How this replica follows the db host (groundwork.deploy refuses any other number of them)."""
    primary = next(h for h in hosts_with_role("db") if REPLICA_GROUP not in h.groups)
    # The primary's own settings: its role's password and port are the ones to connect with.
    theirs = settings_of(primary).postgres
    version = distribution_plan(primary.get_fact(LinuxDistribution), theirs).version
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
    if _is_backup_host():
        deploy_backup_host(settings.backups, db_hosts=[d for d in hosts_with_role("db") if d.name != host.name])


def run_app(settings: SimpleNamespace) -> None:
    if _here("worker") and not _here("app") and settings.celery.app:
        raise PyinfraError(
            f"group worker: {host.name} is not in group app; Celery runs from the app's release, "
            "so worker hosts must be app hosts too"
        )
    if _runs_app(settings):
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


STEPS = (run_packages, run_base, run_postgres, run_redis, run_backups, run_app, run_edge, run_firewall)
