"""What the app is told about the data tier: DATABASE_URL and REDIS_URL.

The one place that reads another component's settings, so that components
themselves never do: the app component gets finished URLs.
"""

from __future__ import annotations

from urllib.parse import quote

from pyinfra.api.exceptions import PyinfraError

from .settings.app import AppSettings
from .settings.postgres import PostgresSettings
from .settings.redis import RedisSettings


def database_url(app: AppSettings, postgres: PostgresSettings, address: str) -> str | None:
    if app.database_url:
        return app.database_url
    passwords = {r.name: r.password for r in postgres.roles if r.password}
    candidates = [d for d in postgres.databases if d.owner in passwords]
    if app.database is not None:
        candidates = [d for d in candidates if d.name == app.database]
        if not candidates:
            raise PyinfraError(
                f"app_database: {app.database!r} is not one of postgres_databases owned by a role with a password"
            )
    if not candidates:
        return None
    db = candidates[0]
    return (
        f"postgresql://{quote(db.owner, safe='')}:{quote(passwords[db.owner], safe='')}"
        f"@{_host(address)}:{postgres.port}/{quote(db.name, safe='')}"
    )


def redis_url(app: AppSettings, redis: RedisSettings, address: str) -> str | None:
    if app.redis_url:
        return app.redis_url
    if not redis.app_password:
        return None
    return (
        f"redis://{quote(redis.app_user, safe='')}:{quote(redis.app_password, safe='')}"
        f"@{_host(address)}:{redis.port}/0"
    )


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def env_file(variables: dict[str, str]) -> str:
    """systemd EnvironmentFile text; values quoted so spaces and quotes survive."""
    lines = ["# managed by groundwork; local edits are overwritten"]
    for key in sorted(variables):
        value = variables[key].replace("\\", "\\\\").replace('"', '\\"')
        if "\n" in value:
            raise PyinfraError(f"app_environment[{key!r}]: expected a single line")
        lines.append(f'{key}="{value}"')
    return "\n".join(lines) + "\n"


def app_environment(settings, host_has_role) -> dict[str, str]:
    """The app's environment: your variables, plus DATABASE_URL and REDIS_URL.

    `settings` is the host's settings namespace; `host_has_role(role)` says
    whether this host runs a role. Until the fleet work wires private
    addresses, the data tier must be on the app's own host or given as URLs.
    """
    env = dict(settings.app.environment)
    for key, role, make, given in (
        ("DATABASE_URL", "db", lambda a: database_url(settings.app, settings.postgres, a), settings.app.database_url),
        ("REDIS_URL", "cache", lambda a: redis_url(settings.app, settings.redis, a), settings.app.redis_url),
    ):
        if key in env:
            continue
        if given:
            env[key] = given
        elif host_has_role(role):
            url = make("127.0.0.1")
            if url:
                env[key] = url
        else:
            raise PyinfraError(
                f"app_{key.lower()}: the {role} role is on another host; set app_{key.lower()} "
                "(deriving it across hosts comes with the fleet support)"
            )
    return env


def nginx_upstream(settings, host_has_role):
    """What nginx on this host proxies to: the app's Gunicorn here."""
    from .components.app import gunicorn_bind
    from .components.edge import Upstream

    app = settings.app
    if not app.source:
        raise PyinfraError("nginx_server_names: nginx needs an app to proxy to; set app_source")
    if not host_has_role("app"):
        raise PyinfraError(
            "nginx: the app role is on other hosts; proxying across hosts comes with the fleet support"
        )
    static_root = f"/srv/{app.name}/current/static" if app.static_command else None
    return Upstream(app.name, (gunicorn_bind(app),), static_root)
