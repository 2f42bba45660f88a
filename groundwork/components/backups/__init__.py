"""backups: scheduled encrypted pg_dump runs on `db` hosts, copied to the `backup` hosts."""

from __future__ import annotations

from ...component import Component, HostRun
from ...fleet import BACKUP, CACHE, DB
from ...settings.schema import deploy_problems
from .deploy import (
    BACKUP_HOST_PACKAGES,
    BACKUP_PACKAGES,
    deploy_backup_host,
    deploy_backups,
)
from .settings import BackupsSettings


def _plays(run: HostRun) -> bool:
    return run.host.plays(DB) or run.host.plays(BACKUP)


def _packages(run: HostRun) -> list[str]:
    return [*(BACKUP_PACKAGES if run.host.plays(DB) else []),
            *(BACKUP_HOST_PACKAGES if run.host.plays(BACKUP) else [])]


def _checks(run: HostRun) -> list[str]:
    return deploy_problems(run.host.name, run.settings.backups) if run.host.plays(DB) else []


def _deploy(run: HostRun) -> None:
    me, settings = run.host, run.settings
    if me.plays(DB):
        deploy_backups(settings.backups, me, postgres_port=settings.postgres.port, redis_on_host=me.plays(CACHE),
                       backup_hosts=[b for b in run.fleet.with_role(BACKUP) if b.name != me.name])
    if me.plays(BACKUP):
        deploy_backup_host(settings.backups, db_hosts=[d for d in run.fleet.with_role(DB) if d.name != me.name])


BACKUPS = Component(
    name="backups",
    settings=(BackupsSettings,),
    plays=_plays,
    packages=_packages,
    checks=_checks,
    deploy=_deploy,
)
