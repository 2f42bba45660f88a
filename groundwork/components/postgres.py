"""PostgreSQL with pgvector: packages → config → service → roles → databases → extensions."""

from __future__ import annotations

from dataclasses import dataclass

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations import apt

from ..changes import ServiceChanges
from ..facts.host import CpuCount, MemoryBytes
from ..facts.postgres import PostgresDatabases, PostgresExtensions, PostgresRoles
from ..operations import files, systemd
from ..operations import postgres as pg
from ..packages import ensure_packages
from ..paths import template
from ..scram import make_verifier, verifier_matches
from ..secret import Secret
from ..settings.postgres import Database, PostgresSettings, Role
from ..tuning import POSTGRES_RESTART_ONLY, postgres_tuning

# (distribution, major) -> the PostgreSQL major it ships, and whether it ships pgvector.
DISTRIBUTION_POSTGRES = {
    ("debian", 13): (17, True),
    ("debian", 12): (15, False),
    ("ubuntu", 24): (16, True),
    ("ubuntu", 22): (14, False),
}
PGDG_KEY = "/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc"  # shipped by postgresql-common
PGDG_SOURCES = "/etc/apt/sources.list.d/pgdg.sources"
CONF_FILES = ("postgresql.conf", "pg_ident.conf", "pg_ctl.conf", "start.conf", "environment")


@dataclass(frozen=True)
class PackagePlan:
    version: int
    packages: tuple[str, ...]
    pgdg_suite: str | None  # e.g. "bookworm-pgdg" when the PGDG repository is used


def plan_packages(distro: str, major: int, codename: str, settings: PostgresSettings) -> PackagePlan:
    """Which PostgreSQL to install from where; refuses what cannot have pgvector."""
    shipped, has_pgvector = DISTRIBUTION_POSTGRES.get((distro.lower(), major), (None, False))
    version = settings.version or shipped
    if version is None:
        raise PyinfraError(
            f"postgres_version: {distro} {major} is not a known distribution; set postgres_version "
            "and postgres_apt_repository = 'pgdg'"
        )
    packages = (f"postgresql-{version}", f"postgresql-{version}-pgvector")
    if settings.apt_repository == "pgdg":
        return PackagePlan(version, packages, f"{codename}-pgdg")
    if version != shipped:
        raise PyinfraError(
            f"postgres_version: {distro} {major} ships PostgreSQL {shipped}, not {version}; "
            "set postgres_apt_repository = 'pgdg' for other versions"
        )
    if not has_pgvector:
        raise PyinfraError(
            f"postgres_apt_repository: {distro} {major} has no pgvector package; "
            "set postgres_apt_repository = 'pgdg'"
        )
    return PackagePlan(version, packages, None)


def server_parameters(settings: PostgresSettings, memory_bytes: int, cpus: int) -> tuple[dict, dict]:
    """(restart-only, reloadable) postgresql.conf parameters, overrides applied."""
    params = postgres_tuning(memory_bytes, cpus, settings.max_connections, settings.storage)
    params.update({
        "listen_addresses": ",".join(settings.listen_addresses),
        "port": str(settings.port),
        "password_encryption": "scram-sha-256",
    })
    params.update(settings.conf)
    ordered = dict(sorted(params.items()))
    restart = {k: v for k, v in ordered.items() if k in POSTGRES_RESTART_ONLY}
    reload = {k: v for k, v in ordered.items() if k not in POSTGRES_RESTART_ONLY}
    return restart, reload


def role_sql(role: Role, current: dict | None) -> str | None:
    """SQL that makes `role` as declared, or None when it already is."""
    attrs = {"superuser": False, "createrole": False, "createdb": False,
             "login": role.login, "connection_limit": role.connection_limit}
    password_ok = (
        current is not None
        and (verifier_matches(current["verifier"], role.password) if role.password
             else current["verifier"] is None)
    )
    if current is not None and password_ok and all(current[k] == v for k, v in attrs.items()):
        return None
    name, ident = pg.quote_literal(role.name), pg.quote_ident(role.name)
    options = (
        f"{'LOGIN' if role.login else 'NOLOGIN'} NOSUPERUSER NOCREATEROLE NOCREATEDB "
        f"CONNECTION LIMIT {role.connection_limit}"
    )
    if not password_ok:
        # A verifier, never the password: the plaintext stays on the control machine.
        options += " PASSWORD " + (pg.quote_literal(make_verifier(role.password)) if role.password else "NULL")
    return (
        f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {name}) "
        f"THEN CREATE ROLE {ident}; END IF; END$$;\n"
        f"ALTER ROLE {ident} WITH {options};\n"
    )


def database_sql(db: Database, current: dict | None, index: int) -> str | None:
    ident = pg.quote_ident(db.name)
    if current is None:
        return (
            f"CREATE DATABASE {ident} OWNER {pg.quote_ident(db.owner)} TEMPLATE template0 "
            f"ENCODING {pg.quote_literal(db.encoding)} LC_COLLATE {pg.quote_literal(db.locale)} "
            f"LC_CTYPE {pg.quote_literal(db.locale)} CONNECTION LIMIT {db.connection_limit};\n"
        )
    fixed = {"encoding": db.encoding, "collate": db.locale, "ctype": db.locale}
    for key, wanted in fixed.items():
        if current[key] != wanted:
            raise PyinfraError(
                f"postgres_databases[{index}]: database {db.name} exists with {key} {current[key]!r}, "
                f"not {wanted!r}; that is fixed at creation (dump, re-create and restore to change it)"
            )
    statements = []
    if current["owner"] != db.owner:
        statements.append(f"ALTER DATABASE {ident} OWNER TO {pg.quote_ident(db.owner)};")
    if current["connection_limit"] != db.connection_limit:
        statements.append(f"ALTER DATABASE {ident} CONNECTION LIMIT {db.connection_limit};")
    return "\n".join(statements) + "\n" if statements else None


def config_check_command(version: int, port: int) -> str:
    """Fails, printing each error, when the config files on disk are broken.

    `postgres -C` parses postgresql.conf and its includes as a start would
    (pg_file_settings cannot tell an invalid value from one awaiting a
    restart); pg_hba_file_rules parses pg_hba.conf. Both read the files as
    they are now, so this runs before a reload/restart and a broken file
    never reaches the running server.
    """
    hba_query = (
        "SELECT file_name || ':' || line_number || ': ' || error "
        "FROM pg_hba_file_rules WHERE error IS NOT NULL"
    )
    return (
        f"cd / && runuser -u postgres -- /usr/lib/postgresql/{version}/bin/postgres "
        f"-D /etc/postgresql/{version}/main -C data_directory >/dev/null && "
        f"if [ -S /var/run/postgresql/.s.PGSQL.{port} ]; then "
        f"errors=$(runuser -u postgres -- psql -X -A -t -p {port} -c \"{hba_query}\") || exit 1; "
        'if [ -n "$errors" ]; then echo "pg_hba.conf errors:" >&2; echo "$errors" >&2; exit 1; fi; fi'
    )


@deploy("Postgres")
def deploy_postgres(settings: PostgresSettings) -> None:
    plan = install_postgres(settings)
    configure_postgres(settings, plan.version)
    create_roles(settings)
    create_databases(settings)


def install_postgres(settings: PostgresSettings) -> PackagePlan:
    distro = host.get_fact(LinuxDistribution)
    codename = distro["release_meta"].get("VERSION_CODENAME", "")
    plan = plan_packages(distro["name"] or "", distro["major"] or 0, codename, settings)
    if plan.pgdg_suite:
        ensure_packages(["postgresql-common", "ca-certificates"], name="Install postgresql-common")
        source = files.template(
            name="Add the PostgreSQL project's apt repository",
            src=template("etc/apt/sources.list.d/pgdg.sources"),
            dest=PGDG_SOURCES, mode="0644", suite=plan.pgdg_suite, key=PGDG_KEY,
        )
        apt.update(name="Refresh apt package lists for PGDG", _if=source.did_change)
    ensure_packages(plan.packages, name=f"Install PostgreSQL {plan.version} with pgvector")
    return plan


def configure_postgres(settings: PostgresSettings, version: int) -> None:
    conf_dir = f"/etc/postgresql/{version}/main"
    service = f"postgresql@{version}-main"
    restart_params, reload_params = server_parameters(
        settings, host.get_fact(MemoryBytes), host.get_fact(CpuCount)
    )
    check = config_check_command(version, settings.port)
    restart = ServiceChanges(service, action="restart", check=check)
    reload = ServiceChanges(service, action="reload", check=check)

    files.directory(name="Create the conf.d directory", path=f"{conf_dir}/conf.d",
                    user="postgres", group="postgres", mode="0750")
    restart.watch(files.template(
        name="Upload the restart-only server settings",
        src=template("etc/postgresql/VERSION/main/conf.d/10-groundwork-restart.conf"),
        dest=f"{conf_dir}/conf.d/10-groundwork-restart.conf",
        user="postgres", group="postgres", mode="0640", settings=restart_params,
    ))
    reload.watch(files.template(
        name="Upload the server settings",
        src=template("etc/postgresql/VERSION/main/conf.d/20-groundwork.conf"),
        dest=f"{conf_dir}/conf.d/20-groundwork.conf",
        user="postgres", group="postgres", mode="0640", settings=reload_params,
    ))
    reload.watch(files.template(
        name="Upload pg_hba.conf",
        src=template("etc/postgresql/VERSION/main/pg_hba.conf"),
        dest=f"{conf_dir}/pg_hba.conf",
        user="postgres", group="postgres", mode="0640",
        allowed_clients=list(settings.allowed_clients),
    ))
    for name in CONF_FILES:
        files.file(name=f"Keep {name} private", path=f"{conf_dir}/{name}",
                   user="postgres", group="postgres", mode="0640")

    systemd.service(name="Enable and start PostgreSQL", service="postgresql", running=True, enabled=True)
    systemd.service(name=f"Start {service}", service=service, running=True)
    restart.apply()
    reload.apply()


def create_roles(settings: PostgresSettings) -> None:
    current = host.get_fact(PostgresRoles, port=settings.port)
    for role in settings.roles:
        statements = role_sql(role, None if current is None else current.get(role.name))
        if statements:
            pg.sql(name=f"Create or update role {role.name}", statements=Secret(statements), port=settings.port)


def create_databases(settings: PostgresSettings) -> None:
    current = host.get_fact(PostgresDatabases, port=settings.port)
    for index, db in enumerate(settings.databases):
        existing = None if current is None else current.get(db.name)
        statements = database_sql(db, existing, index)
        if statements:
            verb = "Create" if existing is None else "Update"
            pg.sql(name=f"{verb} database {db.name}", statements=statements, port=settings.port)
        installed = host.get_fact(PostgresExtensions, database=db.name, port=settings.port) if existing else None
        missing = [e for e in db.extensions if installed is None or e not in installed]
        if missing:
            pg.sql(
                name=f"Create extension {', '.join(missing)} in {db.name}",
                statements="".join(f"CREATE EXTENSION IF NOT EXISTS {pg.quote_ident(e)};\n" for e in missing),
                database=db.name, port=settings.port,
            )
