"""Where Redis on a host listens, derived from the fleet: loopback, plus the
host's own address when app/worker hosts on other machines connect."""

from __future__ import annotations

from ...fleet import CACHE, Fleet, FleetHost

LOOPBACK_REDIS = ("127.0.0.1", "-::1")


def redis_bind(fleet: Fleet, me: FleetHost) -> tuple[str, ...]:
    """A hand-set `redis_bind`, else loopback plus the host's own address when clients connect."""
    bind = me.settings.redis.bind
    if bind is not None:
        return tuple(bind)
    if fleet.clients_of(CACHE, me):
        return (*LOOPBACK_REDIS, me.ip())
    return LOOPBACK_REDIS
