"""Backups: encrypted pg_dump runs with retention, off-host copies and a weekly restore drill.

    pyinfra inventories/prod.py deploys/backups.py

Runs on the hosts in the `db` group (every host when there is none); the hosts
in the `backup` group receive the copies (no such group: no off-host copy).
Restore and drill: docs/backups.md.
"""

from pyinfra import host

from groundwork.components.backups import deploy_backup_host, deploy_backups
from groundwork.deploy import settings_for
from groundwork.topology import host_has_role, hosts_in_group, hosts_with_role

settings = settings_for(host, deploying=["backups"])
backup_hosts = hosts_in_group("backup")

if host_has_role(host, "db"):
    deploy_backups(
        settings.backups,
        postgres_port=settings.postgres.port,
        redis_on_host=host_has_role(host, "cache"),
        backup_hosts=[b for b in backup_hosts if b.name != host.name],
    )
if host in backup_hosts:
    deploy_backup_host(settings.backups, db_hosts=[d for d in hosts_with_role("db") if d.name != host.name])
