"""PostgreSQL with pgvector: packages → config → service → roles → databases → extensions.

On a hot standby (a host of the `replica` group): packages → config →
service → clone of the primary; roles, databases and extensions come from
the primary over streaming replication.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations import apt

from ...changes import ServiceChanges, await_answer, watched_upload
from ...escape import postgres_conf_value
from ...facts.host import CpuCount, MemoryBytes
from ...facts.once import fact_at_start
from ...operations import files, server, systemd
from ...packages import ensure_packages
from ...paths import template
from ...secret import Secret
from . import operations as pg
from .access import LOOPBACK_POSTGRES, PostgresAccess
from .facts import (
    PostgresCluster,
    PostgresDatabases,
    PostgresExtensions,
    PostgresReplicationSlots,
    PostgresRoles,
)
from .scram import make_verifier, verifier_matches
from .settings import Database, PostgresSettings, Role
from .tuning import POSTGRES_RESTART_ONLY, postgres_tuning

# (distribution, major) -> the PostgreSQL major it ships, and whether it ships pgvector.
DISTRIBUTION_POSTGRES = {
    ("debian", 13): (17, True),
    ("debian", 12): (15, False),
    ("ubuntu", 24): (16, True),
    ("ubuntu", 22): (14, False),
}
PGDG_KEY = "/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc"  # shipped by postgresql-common
PGDG_SOURCES = "/etc/apt/sources.list.d/pgdg.sources"
PGDG_SETUP_PACKAGES = ["postgresql-common", "ca-certificates"]
CONF_FILES = ("postgresql.conf", "pg_ident.conf", "pg_ctl.conf", "start.conf", "environment")
PGPASS = "/var/lib/postgresql/.pgpass"  # the postgres user's home
# A standby refuses to run with these below the primary's values.
STANDBY_FLOORS = (
    "max_connections", "max_worker_processes", "max_wal_senders", "max_prepared_transactions",
    "max_locks_per_transaction",
)
# A fresh initdb holds template0, template1 and postgres.
INITDB_DATABASES = 3
LOOPBACK_ACCESS = PostgresAccess(LOOPBACK_POSTGRES, (), "replicator")


@dataclass(frozen=True)
class Standby:
    """How a replica follows its primary; made from the fleet by the component record."""

    primary: str  # the primary's inventory name, for messages
    address: str
    port: int
    user: str
    password: Secret = field(repr=False)
    slot: str
    version: int  # the primary's PostgreSQL major
    floors: dict[str, str] = field(default_factory=dict)  # the primary's STANDBY_FLOORS values
    vector: bool = False  # whether the primary installs pgvector

    def conninfo(self) -> str:
        # No password here: libpq reads it from PGPASS, so it stays out of the config files.
        return (
            f"host={self.address} port={self.port} user={self.user} passfile={PGPASS} "
            f"application_name={self.slot}"
        )


@dataclass(frozen=True)
class PackagePlan:
    version: int
    packages: tuple[str, ...]
    pgdg_suite: str | None  # e.g. "bookworm-pgdg" when the PGDG repository is used


def plan_packages(distro: str, major: int, codename: str, settings: PostgresSettings,
                  vector: bool | None = None) -> PackagePlan:
    """Which PostgreSQL to install from where, with pgvector when `vector` (by default: when a
    database asks for it); refuses what cannot have it."""
    vector = settings.wants_vector if vector is None else vector
    shipped, has_pgvector = DISTRIBUTION_POSTGRES.get((distro.lower(), major), (None, False))
    version = settings.version or shipped
    if version is None:
        raise PyinfraError(
            f"postgres_version: {distro} {major} is not a known distribution; set postgres_version "
            "and postgres_apt_repository = 'pgdg'"
        )
    packages = (f"postgresql-{version}", *([f"postgresql-{version}-pgvector"] if vector else []))
    if settings.apt_repository == "pgdg":
        return PackagePlan(version, packages, f"{codename}-pgdg")
    if version != shipped:
        raise PyinfraError(
            f"postgres_version: {distro} {major} ships PostgreSQL {shipped}, not {version}; "
            "set postgres_apt_repository = 'pgdg' for other versions"
        )
    if vector and not has_pgvector:
        raise PyinfraError(
            f"postgres_apt_repository: {distro} {major} has no pgvector package in its archive, and "
            "postgres_databases ask for the 'vector' extension; set postgres_apt_repository = 'pgdg', "
            "or drop 'vector' from the databases' extensions"
        )
    return PackagePlan(version, packages, None)


def conf_values(params: dict) -> dict[str, str]:
    """Parameters as postgresql.conf lines take them: every value quoted for its lexer."""
    return {name: postgres_conf_value(value) for name, value in params.items()}


def server_parameters(
    settings: PostgresSettings, memory_bytes: int, cpus: int,
    listen_addresses: tuple[str, ...] = LOOPBACK_POSTGRES, standby: Standby | None = None,
) -> tuple[dict, dict]:
    """(restart-only, reloadable) postgresql.conf parameters, overrides applied."""
    params = postgres_tuning(memory_bytes, cpus, settings.max_connections, settings.storage)
    params.update({
        "listen_addresses": ",".join(listen_addresses),
        "port": str(settings.port),
        "password_encryption": "scram-sha-256",
    })
    params.update(settings.conf)
    if standby is not None:
        for name, floor in standby.floors.items():
            mine = params.get(name)
            if mine is None or (mine.isdigit() and floor.isdigit() and int(mine) < int(floor)):
                params[name] = floor
        params.update({
            "hot_standby": "on",
            "primary_conninfo": standby.conninfo(),
            "primary_slot_name": standby.slot,
        })
    ordered = dict(sorted(params.items()))
    restart = {k: v for k, v in ordered.items() if k in POSTGRES_RESTART_ONLY}
    reload = {k: v for k, v in ordered.items() if k not in POSTGRES_RESTART_ONLY}
    return restart, reload


def standby_floors(settings: PostgresSettings, cpus: int) -> dict[str, str]:
    """The primary's values of the parameters its standbys must not go below."""
    params = postgres_tuning(1024 ** 3, cpus, settings.max_connections, settings.storage)  # memory plays no part
    params.update(settings.conf)
    return {name: params[name] for name in STANDBY_FLOORS if name in params}


def role_sql(role: Role, current: dict | None, replication: bool = False) -> str | None:
    """SQL that makes `role` as declared, or None when it already is."""
    attrs = {"superuser": False, "createrole": False, "createdb": False, "replication": replication,
             "login": role.login, "connection_limit": role.connection_limit}
    password_ok = (
        current is not None
        and (verifier_matches(current["verifier"], role.password) if role.password
             else current["verifier"] is None)
    )
    if current is not None and password_ok and all(current.get(k, False) == v for k, v in attrs.items()):
        return None
    name, ident = pg.quote_literal(role.name), pg.quote_ident(role.name)
    options = (
        f"{'LOGIN' if role.login else 'NOLOGIN'} NOSUPERUSER NOCREATEROLE NOCREATEDB "
        f"{'REPLICATION' if replication else 'NOREPLICATION'} CONNECTION LIMIT {role.connection_limit}"
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
        # Guarded: "no server answered" may be a stopped server that has the database.
        create = (
            f"CREATE DATABASE {ident} OWNER {pg.quote_ident(db.owner)} TEMPLATE template0 "
            f"ENCODING {pg.quote_literal(db.encoding)} LC_COLLATE {pg.quote_literal(db.locale)} "
            f"LC_CTYPE {pg.quote_literal(db.locale)} CONNECTION LIMIT {db.connection_limit}"
        )
        return (
            f"SELECT {pg.quote_literal(create)} "
            f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = {pg.quote_literal(db.name)})\\gexec\n"
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


def accepts_a_query(version: int) -> str:
    """A shell test: the server answers a query on the port its config files on disk name
    (after a fallback, the previous port). Its own psql: Debian's wrapper parses the config."""
    bin_dir = f"/usr/lib/postgresql/{int(version)}/bin"
    return (f"port=$(cd / && runuser -u postgres -- {bin_dir}/postgres -D /etc/postgresql/{int(version)}/main "
            f"-C port) && cd / && runuser -u postgres -- {bin_dir}/psql -X -p \"$port\" -Atqc 'SELECT 1' postgres")


def config_check_command(version: int, port: int) -> str:
    """Fails, printing each error, when the config files on disk are broken.

    `postgres -C` parses postgresql.conf and its includes as a start would
    (pg_file_settings cannot tell an invalid value from one awaiting a
    restart); pg_hba_file_rules parses pg_hba.conf. Both read the files as
    they are now, so this runs before a reload/restart and a broken file
    never reaches the running server.
    """
    # pg_hba_file_rules has file_name from PostgreSQL 16 (Debian 12 ships 15).
    where = "file_name || ':' || " if version >= 16 else "'pg_hba.conf:' || "
    hba_query = f"SELECT {where}line_number || ': ' || error FROM pg_hba_file_rules WHERE error IS NOT NULL"
    return (
        f"cd / && runuser -u postgres -- /usr/lib/postgresql/{version}/bin/postgres "
        f"-D /etc/postgresql/{version}/main -C data_directory >/dev/null && "
        f"if [ -S /var/run/postgresql/.s.PGSQL.{port} ]; then "
        f"errors=$(runuser -u postgres -- /usr/lib/postgresql/{version}/bin/psql -X -A -t -p {port} "
        f"-c \"{hba_query}\") || exit 1; "
        'if [ -n "$errors" ]; then echo "pg_hba.conf errors:" >&2; echo "$errors" >&2; exit 1; fi; fi'
    )


@deploy("Postgres")
def deploy_postgres(
    settings: PostgresSettings, access: PostgresAccess = LOOPBACK_ACCESS, standby: Standby | None = None,
) -> None:
    """`access`: who reaches this server (groundwork.components.postgres.access); `standby`: set on a replica."""
    plan = install_postgres(settings, standby)
    restart, reload = configure_postgres(settings, plan.version, access, standby)
    restart.apply()
    if standby is None:
        create_roles(settings, plan.version, access)
        create_replication_slots(settings, plan.version, access)
        create_databases(settings, plan.version)
    # pyinfra orders the operations of different hosts only through the ones
    # they share: this reload, on primary and replica alike, is what puts the
    # primary's replication role and slot (and its pg_hba) before the clone.
    reload.apply()
    if standby is not None:
        follow_primary(standby, plan.version)


def distribution_plan(distro: dict, settings: PostgresSettings, vector: bool | None = None) -> PackagePlan:
    """plan_packages for a host's LinuxDistribution fact."""
    codename = distro["release_meta"].get("VERSION_CODENAME", "")
    return plan_packages(distro["name"] or "", distro["major"] or 0, codename, settings, vector)


def host_plan(settings: PostgresSettings, vector: bool | None = None) -> PackagePlan:
    """plan_packages for the current host's distribution."""
    return distribution_plan(fact_at_start(LinuxDistribution), settings, vector)


def postgres_packages(settings: PostgresSettings, vector: bool | None = None) -> list[str]:
    """What can be installed before anything else: with PGDG, only what adds its repository."""
    plan = host_plan(settings, vector)
    return PGDG_SETUP_PACKAGES if plan.pgdg_suite else list(plan.packages)


def install_postgres(settings: PostgresSettings, standby: Standby | None = None) -> PackagePlan:
    # A replica replays its primary's pages: it needs pgvector when the primary has it.
    plan = host_plan(settings, settings.wants_vector or (standby is not None and standby.vector))
    if standby is not None and plan.version != standby.version:
        # pg_basebackup copies files: only the same major version can run them.
        raise PyinfraError(
            f"postgres_version: this replica would run PostgreSQL {plan.version}, its primary "
            f"{standby.primary} runs {standby.version}; set postgres_version (and postgres_apt_repository) to match"
        )
    if plan.pgdg_suite:
        ensure_packages(PGDG_SETUP_PACKAGES, name="Install postgresql-common")
        source = files.template(
            name="Add the PostgreSQL project's apt repository",
            src=template("etc/apt/sources.list.d/pgdg.sources"),
            dest=PGDG_SOURCES, mode="0644", suite=plan.pgdg_suite, key=PGDG_KEY,
        )
        apt.update(name="Refresh apt package lists for PGDG", _if=source.did_change)
    ensure_packages(plan.packages, name=f"Install PostgreSQL {plan.version}{' with pgvector' if len(plan.packages) > 1 else ''}")
    return plan


def configure_postgres(
    settings: PostgresSettings, version: int, access: PostgresAccess = LOOPBACK_ACCESS,
    standby: Standby | None = None,
) -> tuple[ServiceChanges, ServiceChanges]:
    """Upload the config; the (restart, reload) still to apply."""
    conf_dir = f"/etc/postgresql/{version}/main"
    service = f"postgresql@{version}-main"
    restart_params, reload_params = server_parameters(
        settings, host.get_fact(MemoryBytes), host.get_fact(CpuCount), access.listen_addresses, standby,
    )
    check = config_check_command(version, settings.port)
    answers = accepts_a_query(version)
    restart = ServiceChanges(service, action="restart", check=check, ready=answers, timeout=settings.start_timeout)
    reload = ServiceChanges(service, action="reload", check=check, ready=answers, timeout=settings.start_timeout)

    files.directory(name="Create the conf.d directory", path=f"{conf_dir}/conf.d",
                    user="postgres", group="postgres", mode="0750")
    watched_upload(restart, files.template,
        name="Upload the restart-only server settings",
        src=template("etc/postgresql/VERSION/main/conf.d/10-groundwork-restart.conf"),
        dest=f"{conf_dir}/conf.d/10-groundwork-restart.conf",
        user="postgres", group="postgres", mode="0640", settings=conf_values(restart_params),
    )
    watched_upload(reload, files.template,
        name="Upload the server settings",
        src=template("etc/postgresql/VERSION/main/conf.d/20-groundwork.conf"),
        dest=f"{conf_dir}/conf.d/20-groundwork.conf",
        user="postgres", group="postgres", mode="0640", settings=conf_values(reload_params),
    )
    watched_upload(reload, files.template,
        name="Upload pg_hba.conf",
        src=template("etc/postgresql/VERSION/main/pg_hba.conf"),
        dest=f"{conf_dir}/pg_hba.conf",
        user="postgres", group="postgres", mode="0640",
        allowed_clients=list(access.allowed_clients),
        replication_user=access.replication_user,
        replication_clients=[r.cidr for r in access.replicas],
        peer_users=list(access.peer_users),
    )
    for name in CONF_FILES:
        files.file(name=f"Keep {name} private", path=f"{conf_dir}/{name}",
                   user="postgres", group="postgres", mode="0640")

    systemd.service(name="Enable and start PostgreSQL", service="postgresql", running=True, enabled=True)
    started = systemd.service(name=f"Start {service}", service=service, running=True)
    await_answer(started, service, answers, settings.start_timeout)
    return restart, reload


def create_roles(settings: PostgresSettings, version: int, access: PostgresAccess = LOOPBACK_ACCESS) -> None:
    current = host.get_fact(PostgresRoles, port=settings.port, version=version)
    wanted = [(role, False) for role in settings.roles]
    if access.replicas:
        wanted.append((Role(name=settings.replication_user, password=settings.replication_password), True))
    for role, replication in wanted:
        statements = role_sql(role, None if current is None else current.get(role.name), replication)
        if statements:
            pg.sql(name=f"Create or update role {role.name}", statements=Secret(statements), port=settings.port,
                   version=version)


def create_replication_slots(settings: PostgresSettings, version: int, access: PostgresAccess) -> None:
    """A physical slot per replica: the primary keeps the WAL a replica has not received yet.

    Slots of replicas that left the inventory are not dropped: a replica that
    comes back resumes from its slot. Drop one by hand with
    pg_drop_replication_slot(), or it keeps WAL on the primary for good.
    """
    if not access.replicas:
        return
    current = host.get_fact(PostgresReplicationSlots, port=settings.port, version=version) or {}
    missing = [r.slot for r in access.replicas if r.slot not in current]
    if missing:
        pg.sql(
            name=f"Create replication slot {', '.join(missing)}",
            statements="".join(
                f"SELECT pg_create_physical_replication_slot({pg.quote_literal(slot)}) "
                f"WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = {pg.quote_literal(slot)});\n"
                for slot in missing
            ),
            port=settings.port, version=version,
        )


def pgpass_line(standby: Standby) -> str:
    """The ~/.pgpass entry for replication connections to the primary (':' and '\\' escaped)."""
    password = standby.password.reveal().replace("\\", "\\\\").replace(":", "\\:")
    return f"{standby.address}:{standby.port}:replication:{standby.user}:{password}\n"


def clone_command(standby: Standby, version: int) -> str:
    """Turn this host's cluster into a standby of the primary, keeping the old data directory.

    Refuses a cluster with databases of its own (a primary with data, not an
    empty initdb). The initdb'd directory is moved aside, never deleted; a
    failed pg_basebackup puts it back and starts it again.

    No `pg_basebackup -R`: it writes primary_conninfo into
    postgresql.auto.conf, which is read after conf.d and would pin the
    connection of the day of the clone (a new primary address or port would
    never apply). standby.signal is written here; the connection lives in
    conf.d (Standby.conninfo), reloaded when it changes.
    """
    data = f"/var/lib/postgresql/{version}/main"
    service = f"postgresql@{version}-main"
    basebackup = shlex.join([
        "runuser", "-u", "postgres", "--", "env", f"PGPASSFILE={PGPASS}",
        f"/usr/lib/postgresql/{version}/bin/pg_basebackup", "--no-password",
        "-h", standby.address, "-p", str(standby.port), "-U", standby.user,
        "-D", data, "-S", standby.slot, "-X", "stream", "-c", "fast",
    ])
    return "\n".join([
        "set -eu",
        f"data={data}",
        'if [ -e "$data/standby.signal" ]; then exit 0; fi',
        'databases=$(find "$data/base" -mindepth 1 -maxdepth 1 -type d | wc -l)',
        f'if [ "$databases" -gt {INITDB_DATABASES} ]; then',
        f'  echo "refusing to replace $data with a copy of {standby.primary}: it holds databases of its own" >&2',
        "  exit 1",
        "fi",
        f"systemctl stop {service}",
        'aside="$data.initdb-$(date -u +%Y%m%dT%H%M%SZ)"',
        'mv "$data" "$aside"',
        'install -d -o postgres -g postgres -m 0700 "$data"',
        f"if ! {basebackup}; then",
        f'  rm -rf "$data"; mv "$aside" "$data"; systemctl start {service}; exit 1',
        "fi",
        # What makes the cluster start as a standby; primary_conninfo is in conf.d.
        'install -o postgres -g postgres -m 0600 /dev/null "$data/standby.signal"',
        f"systemctl start {service}",
    ])


def follow_primary(standby: Standby, version: int) -> None:
    """Give the replica the replication password, then clone the primary once."""
    files.put(
        # A StringIO: pyinfra never shows its content.
        name="Upload the replication password file",
        src=StringIO(pgpass_line(standby)), dest=PGPASS,
        user="postgres", group="postgres", mode="0600",
    )
    cluster = host.get_fact(PostgresCluster, version=version)
    if cluster is not None and cluster["standby"]:
        return
    if cluster is not None and cluster["databases"] > INITDB_DATABASES:
        raise PyinfraError(
            f"{host.name}: refusing to make /var/lib/postgresql/{version}/main a standby of {standby.primary}: "
            f"it holds {cluster['databases'] - INITDB_DATABASES} database(s) of its own. If they are "
            "expendable, stop the cluster and move the directory away yourself, then run again"
        )
    server.shell(
        name=f"Clone {standby.primary} into this standby with pg_basebackup",
        commands=[clone_command(standby, version)],
    )


def create_databases(settings: PostgresSettings, version: int) -> None:
    # None while no server answers (not installed yet, or stopped): the SQL
    # below is then guarded, and runs after the start above, so it is right either way.
    current = host.get_fact(PostgresDatabases, port=settings.port, version=version)
    for index, db in enumerate(settings.databases):
        existing = None if current is None else current.get(db.name)
        statements = database_sql(db, existing, index)
        if statements:
            verb = "Create" if existing is None else "Update"
            pg.sql(name=f"{verb} database {db.name}", statements=statements, port=settings.port, version=version)
        installed = (host.get_fact(PostgresExtensions, database=db.name, port=settings.port, version=version)
                     if existing else None)
        missing = [e for e in db.extensions if installed is None or e not in installed]
        if missing:
            pg.sql(
                name=f"Create extension {', '.join(missing)} in {db.name}",
                statements="".join(f"CREATE EXTENSION IF NOT EXISTS {pg.quote_ident(e)};\n" for e in missing),
                database=db.name, port=settings.port, version=version,
            )
