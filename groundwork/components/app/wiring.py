"""How the app finds the rest of the fleet: DATABASE_URL and REDIS_URL, and
where Gunicorn listens (a unix socket beside nginx, TCP for remote proxies).

The data tier is reached on 127.0.0.1 when it runs on the app's own host,
else on the address of the one `db` (`cache`) host, with that host's ports
and users: the server's settings are read through the fleet, never from
another component's module.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import quote

from ...fleet import APP, CACHE, DB, Fleet, FleetHost
from .settings import AppSettings


def database_url(app: AppSettings, postgres, address: str) -> str | None:
    """postgres: the server's PostgresSettings."""
    if app.database_url:
        return app.database_url
    passwords = {r.name: r.password for r in postgres.roles if r.password}
    candidates = [d for d in postgres.databases if d.owner in passwords]
    if app.database is not None:
        candidates = [d for d in candidates if d.name == app.database]
        if not candidates:
            raise ValueError(
                f"app_database: {app.database!r} is not one of postgres_databases owned by a role with a password"
            )
    if not candidates:
        return None
    db = candidates[0]
    return (
        f"postgresql://{quote(db.owner, safe='')}:{quote(passwords[db.owner], safe='')}"
        f"@{url_host(address)}:{postgres.port}/{quote(db.name, safe='')}"
    )


def redis_url(app: AppSettings, redis, address: str) -> str | None:
    """redis: the server's RedisSettings."""
    if app.redis_url:
        return app.redis_url
    if not redis.app_password:
        return None
    return (
        f"redis://{quote(redis.app_user, safe='')}:{quote(redis.app_password, safe='')}"
        f"@{url_host(address)}:{redis.port}/0"
    )


def url_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def env_file(variables: dict[str, str]) -> str:
    """systemd EnvironmentFile text; values quoted so spaces and quotes survive."""
    lines = ["# managed by groundwork; local edits are overwritten"]
    for key in sorted(variables):
        value = variables[key].replace("\\", "\\\\").replace('"', '\\"')
        if "\n" in value:
            raise ValueError(f"app_environment[{key!r}]: expected a single line")
        lines.append(f'{key}="{value}"')
    return "\n".join(lines) + "\n"


def app_environment(fleet: Fleet, me: FleetHost) -> dict[str, str]:
    """The app's environment on `me`: your variables, plus DATABASE_URL and REDIS_URL.

    ValueError names the setting when the fleet gives no single server to connect to.
    """
    settings = me.settings
    env = dict(settings.app.environment)
    for key, role, make, given in (
        ("DATABASE_URL", DB, lambda s, a: database_url(settings.app, s.postgres, a), settings.app.database_url),
        ("REDIS_URL", CACHE, lambda s, a: redis_url(settings.app, s.redis, a), settings.app.redis_url),
    ):
        if key in env:
            continue
        if given:
            env[key] = given
            continue
        if me.plays(role):
            server, address = me, "127.0.0.1"
        else:
            try:
                server = fleet.single_with_role(role, f"app_{key.lower()}")
            except ValueError as exc:
                raise ValueError(f"{exc}; or set app_{key.lower()}") from None
            address = server.ip()
        url = make(server.settings, address)
        if url:
            env[key] = url
    return env


def served_app(fleet: Fleet, me: FleetHost) -> AppSettings:
    """The app's settings on `me` with where Gunicorn listens: its unix socket
    while only nginx on its own host proxies to it, else TCP on the host's own
    address (app_port), trusting the X-Forwarded-* headers of those proxies."""
    app = me.settings.app
    remote = [p for p in fleet.proxies_of(me) if p.name != me.name]
    if not remote:
        return app
    proxies = [a for a in (p.ip() for p in remote) if a not in app.forwarded_allow_ips]
    bind = app.bind or f"{url_host(me.ip())}:{app.port}"
    return replace(app, bind=bind, forwarded_allow_ips=[*app.forwarded_allow_ips, *proxies])


def runs_app(me: FleetHost) -> bool:
    return me.plays(APP) and bool(me.settings.app.source)
