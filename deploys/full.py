"""The whole stack, component by component, in dependency order.

    pyinfra inventories/prod.py deploys/full.py

Hosts in the `db` group get PostgreSQL and its backups, `cache` Redis, `app`
the web app, `worker` Celery, `web` nginx with its certificate; with no such
group in the inventory, every host gets them (groundwork.topology). Hosts in
`backup` receive the off-host copies. The firewall comes last, once every
component has declared the ports it needs (groundwork.ports).
"""

from pyinfra import context, host

from groundwork.components.app import deploy_app
from groundwork.components.backups import deploy_backup_host, deploy_backups
from groundwork.components.base import deploy_base
from groundwork.components.edge import deploy_edge
from groundwork.components.firewall import deploy_firewall, ssh_port_in_use
from groundwork.components.postgres import deploy_postgres
from groundwork.components.redis import deploy_redis
from groundwork.deploy import settings_for
from groundwork.ports import Peer, host_address, openings
from groundwork.topology import first_host_with_role, host_has_role, hosts_in_group, hosts_with_role, roles_of
from groundwork.wiring import app_environment, nginx_upstream

settings = settings_for(host)
backup_hosts = hosts_in_group("backup")

deploy_base(settings.base)
if host_has_role(host, "db"):
    deploy_postgres(settings.postgres)
if host_has_role(host, "cache"):
    deploy_redis(settings.redis)
if host_has_role(host, "db"):
    deploy_backups(
        settings.backups,
        postgres_port=settings.postgres.port,
        redis_on_host=host_has_role(host, "cache"),
        backup_hosts=[b for b in backup_hosts if b.name != host.name],
    )
if host.name in {b.name for b in backup_hosts}:
    deploy_backup_host(settings.backups, db_hosts=[d for d in hosts_with_role("db") if d.name != host.name])
if host_has_role(host, "app") and settings.app.source:
    deploy_app(
        settings.app,
        settings.celery,
        app_environment(settings, lambda role: host_has_role(host, role)),
        run_migrations=first_host_with_role("app").name == host.name,
        run_worker=host_has_role(host, "worker"),
        run_beat=first_host_with_role("worker").name == host.name,
    )
if host_has_role(host, "web"):
    deploy_edge(settings.nginx, settings.certbot, nginx_upstream(settings, lambda role: host_has_role(host, role)))
if settings.firewall.enabled:
    peers = [Peer(host_address(h.data), roles_of(h)) for h in context.state.inventory if h.name != host.name]
    in_use = ssh_port_in_use()
    deploy_firewall(
        settings.firewall,
        openings(settings, roles_of(host), peers, in_use),
        ssh_port=settings.base.ssh_port or in_use,
    )
