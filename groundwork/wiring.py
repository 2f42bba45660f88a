"""How the components of a fleet find each other: DATABASE_URL and REDIS_URL
for the app, where Gunicorn listens, and what nginx proxies to.

The one place that reads another component's (or another host's) settings,
so that components themselves never do: they get finished values.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import quote

from pyinfra.api.exceptions import PyinfraError

from .datatier import host_ip
from .settings.app import AppSettings
from .settings.postgres import PostgresSettings
from .settings.redis import RedisSettings
from .topology import proxies_of, role_hosts, single_host_with_role, upstreams_of


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


def app_environment(settings, this, hosts, settings_of) -> dict[str, str]:
    """The app's environment: your variables, plus DATABASE_URL and REDIS_URL.

    `settings` is the host's settings namespace, `this` its pyinfra host among
    `hosts` (the inventory), `settings_of(h)` another host's settings. The data
    tier is reached on 127.0.0.1 when it runs here, else on the address of the
    one `db` (`cache`) host, with that host's ports and users.
    """
    env = dict(settings.app.environment)
    for key, role, make, given in (
        ("DATABASE_URL", "db", lambda s, a: database_url(settings.app, s.postgres, a), settings.app.database_url),
        ("REDIS_URL", "cache", lambda s, a: redis_url(settings.app, s.redis, a), settings.app.redis_url),
    ):
        if key in env:
            continue
        if given:
            env[key] = given
            continue
        if this.name in {h.name for h in role_hosts(role, hosts)}:
            server, address = this, "127.0.0.1"
        else:
            try:
                server = single_host_with_role(role, hosts, f"app_{key.lower()}")
            except ValueError as exc:
                raise PyinfraError(f"{exc}; or set app_{key.lower()}") from None
            address = host_ip(server)
        url = make(settings_of(server), address)
        if url:
            env[key] = url
    return env


def app_listen(app: AppSettings, this, hosts) -> AppSettings:
    """The app's settings with where Gunicorn listens: its unix socket while
    only nginx on its own host proxies to it, else TCP on the host's own
    address (app_port), trusting the X-Forwarded-* headers of those proxies."""
    remote = [p for p in proxies_of(this, hosts) if p.name != this.name]
    if not remote:
        return app
    proxies = [a for a in map(host_ip, remote) if a not in app.forwarded_allow_ips]
    bind = app.bind or f"{_host(host_ip(this))}:{app.port}"
    return replace(app, bind=bind, forwarded_allow_ips=[*app.forwarded_allow_ips, *proxies])


def nginx_upstream(settings, this, hosts, settings_of):
    """What nginx on this host proxies to: Gunicorn here, or on every app host."""
    from .components.app import gunicorn_bind
    from .components.edge import Upstream

    app = settings.app
    if not app.source:
        raise PyinfraError("nginx_server_names: nginx needs an app to proxy to; set app_source")
    targets = upstreams_of(this, hosts)
    if not targets:
        raise PyinfraError("nginx: no host in group 'app' to proxy to")
    servers = tuple(gunicorn_bind(app_listen(settings_of(h).app, h, hosts)) for h in targets)
    # Static files are served from the release on the app's own host only.
    local = [t.name for t in targets] == [this.name]
    static_root = f"/srv/{app.name}/current/static" if app.static_command and local else None
    return Upstream(app.name, servers, static_root)


def wired_settings(settings, this, hosts):
    """A host's settings as its components get them: with the values derived
    from the rest of the fleet (Postgres and Redis addresses and clients,
    where Gunicorn listens). Verify tests check these."""
    from .datatier import with_derived_values

    wired = with_derived_values(hosts, this, settings)
    wired.app = app_listen(settings.app, this, hosts)
    return wired
