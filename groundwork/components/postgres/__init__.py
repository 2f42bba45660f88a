"""postgres: PostgreSQL with pgvector on `db` hosts, hot standbys on `replica` hosts."""

from __future__ import annotations

import dataclasses

from pyinfra.api.exceptions import PyinfraError
from pyinfra.facts.server import LinuxDistribution

from ...component import Component, HostRun, Listener, Opening
from ...facts.host import CpuCount
from ...fleet import DB, REPLICA, ips_of
from ...secret import Secret
from ...settings.schema import deploy_problems
from .access import postgres_access, postgres_clients, slot_name
from .deploy import (
    Standby,
    deploy_postgres,
    distribution_plan,
    postgres_packages,
    standby_floors,
)
from .settings import PostgresSettings


def _plays(run: HostRun) -> bool:
    return run.host.plays(DB) or run.host.plays(REPLICA)


def _openings(run: HostRun) -> list[Opening]:
    sources = ips_of(postgres_clients(run.fleet, run.host))
    return [Opening(run.settings.postgres.port, sources=sources, comment="postgres")] if sources else []


def _checks(run: HostRun) -> list[str]:
    if not _plays(run):
        return []
    groups = frozenset(g for h in run.fleet for g in h.groups)
    problems = deploy_problems(run.host.name, run.settings.postgres, groups)
    try:
        postgres_access(run.fleet, run.host)  # every address that lands in pg_hba is an IP address
    except PyinfraError as exc:
        problems.append(str(exc))
    return problems


def _derived(run: HostRun) -> dict:
    access = postgres_access(run.fleet, run.host)
    return {"postgres": dataclasses.replace(
        run.settings.postgres, listen_addresses=access.listen_addresses, allowed_clients=access.allowed_clients,
    )}


def _standby(run: HostRun) -> Standby:
    """How this replica follows the db host."""
    primary = run.fleet.primary_of(run.host)
    # The primary's own settings: its role's password and port are the ones to connect with.
    theirs = primary.settings.postgres
    version = distribution_plan(primary.pyinfra_host.get_fact(LinuxDistribution), theirs).version
    return Standby(
        primary=primary.name,
        address=primary.ip(),
        port=theirs.port,
        user=theirs.replication_user,
        password=Secret(theirs.replication_password),
        slot=slot_name(run.host.name),
        version=version,
        floors=standby_floors(theirs, primary.pyinfra_host.get_fact(CpuCount)),
        vector=theirs.wants_vector,
    )


def _wants_vector(run: HostRun) -> bool:
    """pgvector on a db host whose databases ask for it, and on its replicas."""
    primary = run.fleet.primary_of(run.host) if run.host.plays(REPLICA) else None
    return run.settings.postgres.wants_vector or (primary is not None and primary.settings.postgres.wants_vector)


def _deploy(run: HostRun) -> None:
    standby = _standby(run) if run.host.plays(REPLICA) else None
    deploy_postgres(run.settings.postgres, postgres_access(run.fleet, run.host), standby=standby)


def _listens(run: HostRun) -> list[Listener]:
    postgres = run.settings.postgres
    hand_set = tuple(a for a in postgres.listen_addresses or () if a not in ("*", "localhost"))
    return [Listener("postgres_port", postgres.port, hand_set, "postgres_listen_addresses")]


POSTGRES = Component(
    name="postgres",
    settings=(PostgresSettings,),
    plays=_plays,
    packages=lambda run: postgres_packages(run.settings.postgres, _wants_vector(run)),
    openings=_openings,
    checks=_checks,
    listens=_listens,
    derived=_derived,
    deploy=_deploy,
)
