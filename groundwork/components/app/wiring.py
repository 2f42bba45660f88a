"""How the app finds the rest of the fleet: DATABASE_URL and REDIS_URL, and
where Gunicorn listens (a unix socket beside nginx, TCP for remote proxies).

The data tier is reached on 127.0.0.1 when it runs on the app's own host,
else on the address of the one `db` (`cache`) host, with that host's ports
and users: the server's settings are read through the fleet, never from
another component's module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from urllib.parse import quote, unquote, urlsplit

from ...fleet import APP, CACHE, DB, Fleet, FleetHost
from .settings import AppSettings


@dataclass(frozen=True)
class Endpoint:
    """Where and as whom the app connects to a service: the parts of its URL."""

    scheme: str
    host: str
    port: int
    user: str
    password: str
    path: str  # the database name, or the Redis database number

    @property
    def url(self) -> str:
        # User and password percent-encoded: a password with @ : / # must not break the URL.
        return (f"{self.scheme}://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
                f"@{url_host(self.host)}:{self.port}/{quote(self.path, safe='')}")


def database_endpoint(app: AppSettings, postgres, address: str) -> Endpoint | None:
    """postgres: the server's PostgresSettings; None when no role with a password owns a database."""
    if app.database_url:
        return _parsed(app.database_url)
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
    return Endpoint("postgresql", address, postgres.port, db.owner, passwords[db.owner], db.name)


def redis_endpoint(app: AppSettings, redis, address: str) -> Endpoint | None:
    """redis: the server's RedisSettings; None when its app user has no password."""
    if app.redis_url:
        return _parsed(app.redis_url)
    if not redis.app_password:
        return None
    return Endpoint("redis", address, redis.port, redis.app_user, redis.app_password, "0")


def _parsed(given: str) -> Endpoint:
    parts = urlsplit(given)
    return Endpoint(parts.scheme, parts.hostname or "", parts.port or 0, unquote(parts.username or ""),
                    unquote(parts.password or ""), unquote(parts.path.lstrip("/")))


def database_url(app: AppSettings, postgres, address: str) -> str | None:
    if app.database_url:
        return app.database_url
    endpoint = database_endpoint(app, postgres, address)
    return endpoint.url if endpoint else None


def redis_url(app: AppSettings, redis, address: str) -> str | None:
    if app.redis_url:
        return app.redis_url
    endpoint = redis_endpoint(app, redis, address)
    return endpoint.url if endpoint else None


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


def endpoints(fleet: Fleet, me: FleetHost, kinds=("database", "redis")) -> dict[str, Endpoint | None]:
    """The database and Redis the app on `me` connects to: on 127.0.0.1 when the
    service runs here, else at the one `db` (`cache`) host's address, with its port and users."""
    settings = me.settings
    found: dict[str, Endpoint | None] = {}
    for kind, role, make, given in (
        ("database", DB, lambda s, a: database_endpoint(settings.app, s.postgres, a), settings.app.database_url),
        ("redis", CACHE, lambda s, a: redis_endpoint(settings.app, s.redis, a), settings.app.redis_url),
    ):
        if kind not in kinds:
            continue
        if given:
            found[kind] = _parsed(given)
            continue
        if me.plays(role):
            server, address = me, "127.0.0.1"
        else:
            key = f"app_{kind}_url" if kind == "redis" else "app_database_url"
            try:
                server = fleet.single_with_role(role, key)
            except ValueError as exc:
                raise ValueError(f"{exc}; or set {key}") from None
            address = server.ip()
        found[kind] = make(server.settings, address)
    return found


REFERENCE = re.compile(r"\$\$|\$\{([a-z]+)\.([a-z]+)\}")
REFERENCE_FIELDS = ("host", "port", "name", "user", "password", "url")


def resolve_references(key: str, value: str, found: dict[str, Endpoint | None]) -> str:
    """`value` with ${database.password} and the like replaced; `$$` is a literal `$`.
    ValueError names the variable and the reference when it cannot be resolved."""

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        kind, field = match.group(1), match.group(2)
        where = f"app_environment[{key!r}]: ${{{kind}.{field}}}"
        if kind not in found or field not in REFERENCE_FIELDS or (kind == "redis" and field == "name"):
            known = ", ".join(f"${{{k}.{f}}}" for k in ("database", "redis") for f in REFERENCE_FIELDS
                              if not (k == "redis" and f == "name"))
            raise ValueError(f"{where}: expected one of {known}")
        endpoint = found[kind]
        if endpoint is None:
            raise ValueError(f"{where}: groundwork derives no {kind} connection for this app "
                             f"({'no postgres role with a password owns a database' if kind == 'database' else 'redis_app_password is not set'})")
        return str(endpoint.url if field == "url" else endpoint.path if field == "name" else getattr(endpoint, field))

    return REFERENCE.sub(replace, value)


def app_environment(fleet: Fleet, me: FleetHost) -> dict[str, str]:
    """The app's environment on `me`: your variables (with their ${...} references
    resolved), plus DATABASE_URL and REDIS_URL.

    ValueError names the setting when the fleet gives no single server to connect to.
    """
    mine = me.settings.app.environment
    # Only what is used is derived: a DATABASE_URL of your own needs no single db host.
    needed = {kind for kind, key in (("database", "DATABASE_URL"), ("redis", "REDIS_URL")) if key not in mine}
    needed |= {m.group(1) for value in mine.values() for m in REFERENCE.finditer(value) if m.group(1)}
    found = endpoints(fleet, me, tuple(needed))
    env = {key: resolve_references(key, value, found) for key, value in mine.items()}
    for key, kind in (("DATABASE_URL", "database"), ("REDIS_URL", "redis")):
        given = me.settings.app.database_url if kind == "database" else me.settings.app.redis_url
        if key not in env and (given or found.get(kind)):
            env[key] = given or found[kind].url
    return env


def served_app(fleet: Fleet, me: FleetHost) -> AppSettings:
    """The app's settings on `me` with where Gunicorn listens: its unix socket while
    only nginx on its own host proxies to it, else TCP on the host's own address
    (app_port), trusting the X-Forwarded-* headers of those proxies. The health
    check's Host header is the site's first name where nginx serves the app."""
    app = me.settings.app
    proxies = fleet.proxies_of(me)
    if app.health_host is None:
        names = [name for p in proxies for name in p.settings.nginx.server_names]
        if names:
            app = replace(app, health_host=names[0])
    remote = [p for p in proxies if p.name != me.name]
    if not remote:
        return app
    trusted = [a for a in (p.ip() for p in remote) if a not in app.forwarded_allow_ips]
    bind = app.bind or f"{url_host(me.ip())}:{app.port}"
    return replace(app, bind=bind, forwarded_allow_ips=[*app.forwarded_allow_ips, *trusted])


def runs_app(me: FleetHost) -> bool:
    return me.plays(APP) and bool(me.settings.app.source)
