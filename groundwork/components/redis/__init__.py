"""redis: redis-server with ACL users, maxmemory, AOF and RDB on `cache` hosts."""

from __future__ import annotations

import dataclasses

from pyinfra.api.exceptions import PyinfraError

from ...component import Component, HostRun, Listener, Opening
from ...fleet import CACHE, ips_of
from ...settings.schema import deploy_problems
from .access import redis_bind
from .deploy import REDIS_PACKAGES, deploy_redis
from .settings import RedisSettings


def _openings(run: HostRun) -> list[Opening]:
    sources = ips_of(run.fleet.clients_of(CACHE, run.host))
    return [Opening(run.settings.redis.port, sources=sources, comment="redis")] if sources else []


def _checks(run: HostRun) -> list[str]:
    if not run.host.plays(CACHE):
        return []
    problems = deploy_problems(run.host.name, run.settings.redis)
    try:
        redis_bind(run.fleet, run.host)  # every address Redis binds is an IP address
    except PyinfraError as exc:
        problems.append(str(exc))
    return problems


def _listens(run: HostRun) -> list[Listener]:
    redis = run.settings.redis
    # A leading '-' marks an address Redis may miss (Debian's '-::1'); the others must exist.
    required = tuple(a for a in redis.bind or () if not a.startswith("-"))
    return [Listener("redis_port", redis.port, required, "redis_bind")]


def _exporter_password(run: HostRun) -> str | None:
    """The monitoring exporter's password, when this host is monitored."""
    from ..monitoring.deploy import redis_exporter_password

    monitoring = getattr(run.settings, "monitoring", None)
    return redis_exporter_password(run.settings.redis.app_password) if monitoring and monitoring.enabled else None


REDIS = Component(
    name="redis",
    settings=(RedisSettings,),
    plays=lambda run: run.host.plays(CACHE),
    packages=lambda run: REDIS_PACKAGES,
    openings=_openings,
    checks=_checks,
    listens=_listens,
    derived=lambda run: {"redis": dataclasses.replace(run.settings.redis, bind=redis_bind(run.fleet, run.host))},
    deploy=lambda run: deploy_redis(run.settings.redis, redis_bind(run.fleet, run.host), _exporter_password(run)),
)
