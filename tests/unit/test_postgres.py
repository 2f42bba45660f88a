"""Postgres without a host: settings, package plans, SQL plans, tuning, SCRAM, templates."""

from __future__ import annotations

import pytest
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.util import get_template

from groundwork.components import SETTINGS_CLASSES
from groundwork.components.postgres.deploy import (
    database_sql,
    plan_packages,
    role_sql,
    server_parameters,
)
from groundwork.components.postgres.scram import make_verifier, verifier_matches
from groundwork.components.postgres.settings import Database, PostgresSettings, Role
from groundwork.components.postgres.tuning import GB, MB, postgres_tuning
from groundwork.paths import template
from groundwork.settings import SettingsError, validate_host

# Made by PostgreSQL 17 itself: CREATE ROLE ... PASSWORD '...'
PG_VERIFIER = (
    "SCRAM-SHA-256$4096:IuViMRVC4xXHwYluVpCAPw==$AUifJCxUjrRYU2HQzCMDhLfTq57sXX1UbhryOWLV2a4="
    ":P7CV26guqTAZCr+c90aO5QD/lIEj2WiMd3EQziIyu1M="
)
PG_VERIFIER_UNICODE = (
    "SCRAM-SHA-256$4096:ZaA7QddLVCBLzvr6dPEhog==$00rdn6vvfQ5M2Ku9MLJkaCkbwR9Lr9rOrAmnwbcb5dU="
    ":6VvGF8mXbZW89gAjZfJa5ZCs0fJ6tT6NQXs+FJmJExM="
)
LAB = {"redis_app_password": "x" * 20}


def problems(data: dict) -> list[str]:
    with pytest.raises(SettingsError) as exc:
        validate_host("db1", {**LAB, **data}, SETTINGS_CLASSES)
    return exc.value.problems


def postgres(**data) -> PostgresSettings:
    return validate_host("db1", {**LAB, **{f"postgres_{k}": v for k, v in data.items()}}, SETTINGS_CLASSES)["postgres"]


# --- settings ------------------------------------------------------------------


def test_defaults():
    s = postgres()
    assert (s.version, s.apt_repository, s.port) == (None, "distribution", 5432)
    # null: derived from the inventory (groundwork.datatier)
    assert (s.listen_addresses, s.allowed_clients) == (None, None)
    assert (s.replication_user, s.replication_password) == ("replicator", None)
    assert s.roles == () and s.databases == ()


def test_version_typo_is_named():
    assert problems({"postgres_verison": 16}) == [
        "host db1: postgres_verison: unknown setting (did you mean postgres_version?)"
    ]


def test_database_owner_must_be_a_declared_role():
    assert problems({
        "postgres_roles": [{"name": "app", "password": "p" * 12}],
        "postgres_databases": [{"name": "app", "owner": "nobody"}],
    }) == ["host db1: postgres_databases[0].owner: expected one of 'postgres', 'app', got 'nobody'"]


def test_role_password_is_never_echoed():
    found = problems({"postgres_roles": [{"name": "app", "password": "short-pw"}]})
    assert found == ["host db1: postgres_roles[0].password: expected at least 12 characters, got 8"]
    found = problems({"postgres_roles": [{"name": "app", "password": 123456789012345}]})
    assert found == ["host db1: postgres_roles[0].password: expected a string or null, got int (value hidden)"]


def test_bad_identifiers_clients_and_repository():
    found = problems({
        "postgres_roles": [{"name": "App-Role"}],
        "postgres_allowed_clients": ["10.0.0.5/32", "10.0.0.0/33"],
        "postgres_apt_repository": "ppa",
    })
    assert found == [
        "host db1: postgres_allowed_clients: expected networks with a prefix length like 10.0.0.5/32 or 10.0.0.0/24, got '10.0.0.0/33'",
        "host db1: postgres_apt_repository: expected one of 'distribution', 'pgdg', got str ('ppa')",
        "host db1: postgres_roles[0].name: expected a lowercase SQL identifier (letters, digits, _), got 'App-Role'",
    ]


def test_duplicate_and_builtin_names_are_refused():
    assert problems({
        "postgres_roles": [{"name": "app"}, {"name": "app"}],
        "postgres_databases": [{"name": "template1", "owner": "app"}],
    }) == [
        "host db1: postgres_databases[0].name: expected a unique database other than the built-in ones, got 'template1'",
        "host db1: postgres_roles[1].name: expected a unique role other than postgres, got 'app'",
    ]


# --- packages --------------------------------------------------------------------


def with_vector(**data) -> PostgresSettings:
    """Settings with a database that asks for pgvector (the extension's default)."""
    return postgres(databases=[{"name": "app", "owner": "postgres"}], **data)


def test_debian_13_uses_the_distribution():
    plan = plan_packages("Debian", 13, "trixie", with_vector())
    assert (plan.version, plan.packages, plan.pgdg_suite) == (17, ("postgresql-17", "postgresql-17-pgvector"), None)


def test_ubuntu_24_04_uses_the_distribution():
    assert plan_packages("Ubuntu", 24, "noble", with_vector()).packages == ("postgresql-16", "postgresql-16-pgvector")


@pytest.mark.parametrize("distro,major,codename,version", [("Debian", 12, "bookworm", 15), ("Ubuntu", 22, "jammy", 14)])
def test_no_pgvector_in_the_distribution_needs_pgdg(distro, major, codename, version):
    with pytest.raises(PyinfraError) as exc:
        plan_packages(distro, major, codename, with_vector())
    assert str(exc.value) == (
        f"postgres_apt_repository: {distro} {major} has no pgvector package in its archive, and postgres_databases "
        "ask for the 'vector' extension; set postgres_apt_repository = 'pgdg', or drop 'vector' from the "
        "databases' extensions"
    )
    plan = plan_packages(distro, major, codename, with_vector(apt_repository="pgdg"))
    assert plan.version == version and plan.pgdg_suite == f"{codename}-pgdg"
    assert plan.packages == (f"postgresql-{version}", f"postgresql-{version}-pgvector")


@pytest.mark.parametrize("distro,major,codename,version", [("Debian", 12, "bookworm", 15), ("Ubuntu", 22, "jammy", 14)])
def test_without_the_vector_extension_the_distribution_is_enough(distro, major, codename, version):
    plain = postgres(databases=[{"name": "app", "owner": "postgres", "extensions": []}])
    assert not plain.wants_vector
    plan = plan_packages(distro, major, codename, plain)
    assert (plan.version, plan.packages, plan.pgdg_suite) == (version, (f"postgresql-{version}",), None)
    # A replica of a primary with pgvector needs it, whatever its own databases say.
    with pytest.raises(PyinfraError, match="has no pgvector package"):
        plan_packages(distro, major, codename, plain, vector=True)


def test_another_major_version_needs_pgdg():
    with pytest.raises(PyinfraError) as exc:
        plan_packages("Debian", 13, "trixie", with_vector(version=16))
    assert str(exc.value) == (
        "postgres_version: Debian 13 ships PostgreSQL 17, not 16; set postgres_apt_repository = 'pgdg' for other versions"
    )
    assert plan_packages("Debian", 12, "bookworm", with_vector(version=17, apt_repository="pgdg")).packages == (
        "postgresql-17", "postgresql-17-pgvector",
    )


def test_pgdg_source_is_signed_by_the_postgresql_common_key():
    text = get_template(template("etc/apt/sources.list.d/pgdg.sources")).render(
        suite="bookworm-pgdg", key="/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc"
    )
    assert text == (
        "# managed by groundwork; local edits are overwritten\n"
        "Types: deb\n"
        "URIs: https://apt.postgresql.org/pub/repos/apt\n"
        "Suites: bookworm-pgdg\n"
        "Components: main\n"
        "Signed-By: /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc\n"
    )


# --- SCRAM -------------------------------------------------------------------------


def test_verifiers_made_by_postgresql_match_their_password_only():
    assert verifier_matches(PG_VERIFIER, "correct horse battery staple")
    assert not verifier_matches(PG_VERIFIER, "correct horse battery stapler")
    assert verifier_matches(PG_VERIFIER_UNICODE, "pässwörd-ünïcode")
    assert not verifier_matches("md5abcdef", "anything") and not verifier_matches(None, "x")


def test_our_verifier_has_postgresqls_format_and_matches():
    verifier = make_verifier("s3cret-password", salt=b"0123456789abcdef")
    assert verifier.startswith("SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$")
    assert verifier_matches(verifier, "s3cret-password")
    assert make_verifier("s3cret-password") != make_verifier("s3cret-password")  # fresh salt


# --- SQL plans ------------------------------------------------------------------------

APP = Role(name="app", password="app-password-123")
CURRENT = {"superuser": False, "createrole": False, "createdb": False, "login": True,
           "connection_limit": -1, "verifier": make_verifier("app-password-123")}


def test_role_as_declared_needs_no_sql():
    assert role_sql(APP, CURRENT) is None


def test_new_role_is_created_with_a_verifier_not_the_password():
    sql = role_sql(APP, None)
    assert sql.startswith(
        "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app') THEN CREATE ROLE \"app\"; END IF; END$$;\n"
        "ALTER ROLE \"app\" WITH LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION CONNECTION LIMIT -1 PASSWORD 'SCRAM-SHA-256$4096:"
    )
    assert "app-password-123" not in sql


def test_changed_attributes_keep_the_password():
    sql = role_sql(APP, {**CURRENT, "createdb": True})
    assert sql.endswith("ALTER ROLE \"app\" WITH LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION CONNECTION LIMIT -1;\n")


def test_changed_password_is_reset():
    assert "PASSWORD 'SCRAM-SHA-256$" in role_sql(APP, {**CURRENT, "verifier": make_verifier("old-password-1")})
    assert role_sql(Role(name="ro", password=None), {**CURRENT, "verifier": None}) is None
    assert role_sql(Role(name="ro", password=None), CURRENT).endswith("PASSWORD NULL;\n")


DB = Database(name="app", owner="app")
DB_NOW = {"owner": "app", "encoding": "UTF8", "collate": "C.UTF-8", "ctype": "C.UTF-8", "connection_limit": -1}


def test_database_plans():
    assert database_sql(DB, DB_NOW, 0) is None
    # Guarded: no answer from the server may be a stopped server that has the database.
    assert database_sql(DB, None, 0) == (
        "SELECT 'CREATE DATABASE \"app\" OWNER \"app\" TEMPLATE template0 ENCODING ''UTF8'' LC_COLLATE ''C.UTF-8'' "
        "LC_CTYPE ''C.UTF-8'' CONNECTION LIMIT -1' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'app')"
        "\\gexec\n"
    )
    assert database_sql(DB, {**DB_NOW, "owner": "postgres", "connection_limit": 5}, 0) == (
        "ALTER DATABASE \"app\" OWNER TO \"app\";\nALTER DATABASE \"app\" CONNECTION LIMIT -1;\n"
    )


def test_a_database_in_another_encoding_is_not_recreated():
    with pytest.raises(PyinfraError) as exc:
        database_sql(DB, {**DB_NOW, "encoding": "LATIN1"}, 2)
    assert str(exc.value) == (
        "postgres_databases[2]: database app exists with encoding 'LATIN1', not 'UTF8'; that is fixed at "
        "creation (dump, re-create and restore to change it)"
    )


# --- tuning ------------------------------------------------------------------------------


def test_tuning_for_a_4_gib_2_cpu_host():
    assert postgres_tuning(4 * GB, 2, 100, "ssd") == {
        "max_connections": "100",
        "shared_buffers": "1GB",
        "effective_cache_size": "3GB",
        "maintenance_work_mem": "256MB",
        "checkpoint_completion_target": "0.9",
        "wal_buffers": "16MB",
        "default_statistics_target": "100",
        "random_page_cost": "1.1",
        "effective_io_concurrency": "200",
        "work_mem": "10MB",
        "huge_pages": "try",
        "min_wal_size": "1GB",
        "max_wal_size": "4GB",
        "max_worker_processes": "8",
        "max_parallel_workers_per_gather": "1",
        "max_parallel_workers": "2",
        "max_parallel_maintenance_workers": "1",
    }


def test_tuning_caps_and_floors():
    big = postgres_tuning(128 * GB, 16, 200, "hdd")
    assert big["maintenance_work_mem"] == "2GB" and big["wal_buffers"] == "16MB"
    assert (big["random_page_cost"], big["effective_io_concurrency"]) == ("4", "2")
    assert big["max_parallel_workers_per_gather"] == "4"
    small = postgres_tuning(512 * MB, 1, 500, "ssd")
    assert small["work_mem"] == "4MB" and small["wal_buffers"] == "3MB"


def test_overrides_win_and_restart_only_settings_are_split_out():
    restart, reload = server_parameters(postgres(conf={"work_mem": "64MB", "shared_buffers": "2GB"}), 4 * GB, 2)
    assert restart["shared_buffers"] == "2GB" and reload["work_mem"] == "64MB"
    assert set(restart) == {"listen_addresses", "port", "max_connections", "shared_buffers", "huge_pages",
                            "max_worker_processes", "wal_buffers"}
    assert reload["password_encryption"] == "scram-sha-256"
    assert restart["listen_addresses"] == "localhost"


def test_pg_hba_admits_exactly_the_allowed_clients():
    text = get_template(template("etc/postgresql/VERSION/main/pg_hba.conf")).render(
        allowed_clients=["10.0.0.5/32"], replication_user="replicator", replication_clients=[],
    )
    host_lines = [line.split() for line in text.splitlines() if line.startswith("host")]
    assert host_lines == [
        ["host", "all", "all", "127.0.0.1/32", "scram-sha-256"],
        ["host", "all", "all", "::1/128", "scram-sha-256"],
        ["host", "all", "all", "10.0.0.5/32", "scram-sha-256"],
    ]
    assert "trust" not in text and "md5" not in text and "password" not in text.replace("scram", "")


# --- replication --------------------------------------------------------------------------------

from groundwork.components.postgres.deploy import (  # noqa: E402
    PGPASS,
    Standby,
    clone_command,
    pgpass_line,
    standby_floors,
)
from groundwork.secret import Secret  # noqa: E402

REPLICATION_PASSWORD = "repl:pass\\word-1"
STANDBY = Standby(
    primary="db1", address="10.0.0.10", port=5432, user="replicator", password=Secret(REPLICATION_PASSWORD),
    slot="groundwork_rep1", version=17, floors={"max_connections": "200", "max_worker_processes": "16"},
)


def test_replication_role_gets_replication_and_nothing_else():
    role = Role(name="replicator", password="r" * 16)
    sql = role_sql(role, None, replication=True)
    assert "WITH LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB REPLICATION CONNECTION LIMIT -1 PASSWORD 'SCRAM" in sql
    current = {**CURRENT, "replication": True, "verifier": make_verifier("r" * 16)}
    assert role_sql(role, current, replication=True) is None
    # An app role that somehow got REPLICATION loses it.
    assert "NOREPLICATION" in role_sql(APP, {**CURRENT, "replication": True})


def test_pg_hba_admits_replicas_for_replication_only():
    text = get_template(template("etc/postgresql/VERSION/main/pg_hba.conf")).render(
        allowed_clients=["10.0.0.11/32"], replication_user="replicator", replication_clients=["10.0.0.12/32"],
    )
    host_lines = [line.split() for line in text.splitlines() if line.startswith("host")]
    assert host_lines[-2:] == [
        ["host", "all", "all", "10.0.0.11/32", "scram-sha-256"],
        ["host", "replication", "replicator", "10.0.0.12/32", "scram-sha-256"],
    ]


def test_pg_hba_of_a_single_host_is_what_it_always_was():
    text = get_template(template("etc/postgresql/VERSION/main/pg_hba.conf")).render(
        allowed_clients=[], replication_user="replicator", replication_clients=[],
    )
    assert text == (
        "# managed by groundwork; local edits are overwritten\n"
        "# TYPE  DATABASE  USER      ADDRESS          METHOD\n"
        "local   all       postgres                   peer\n"
        "local   all       all                        scram-sha-256\n"
        "host    all       all       127.0.0.1/32     scram-sha-256\n"
        "host    all       all       ::1/128          scram-sha-256\n"
    )


def test_standby_parameters_follow_the_primary_without_its_password():
    restart, reload = server_parameters(postgres(), 2 * GB, 2, ("localhost",), STANDBY)
    assert restart["hot_standby"] == "on"
    # Never below the primary's values, or the standby refuses to replay.
    assert (restart["max_connections"], restart["max_worker_processes"]) == ("200", "16")
    assert reload["primary_slot_name"] == "groundwork_rep1"
    assert reload["primary_conninfo"] == (
        f"host=10.0.0.10 port=5432 user=replicator passfile={PGPASS} application_name=groundwork_rep1"
    )
    assert REPLICATION_PASSWORD not in repr((restart, reload, STANDBY))


def test_standby_keeps_its_own_values_above_the_primarys():
    restart, _ = server_parameters(postgres(max_connections=300), 2 * GB, 32, ("localhost",), STANDBY)
    assert (restart["max_connections"], restart["max_worker_processes"]) == ("300", "32")


def test_standby_floors_are_the_primarys_values():
    assert standby_floors(postgres(max_connections=150), 12) == {"max_connections": "150", "max_worker_processes": "12"}
    assert standby_floors(postgres(conf={"max_wal_senders": "20"}), 2)["max_wal_senders"] == "20"


def test_pgpass_escapes_colons_and_backslashes():
    assert pgpass_line(STANDBY) == "10.0.0.10:5432:replication:replicator:repl\\:pass\\\\word-1\n"


def test_clone_keeps_the_old_cluster_refuses_one_with_data_and_never_shows_the_password():
    command = clone_command(STANDBY, 17)
    assert REPLICATION_PASSWORD not in command and "repl" + ":pass" not in command
    lines = command.splitlines()
    assert 'if [ -e "$data/standby.signal" ]; then exit 0; fi' in lines
    assert 'if [ "$databases" -gt 3 ]; then' in lines
    assert 'mv "$data" "$aside"' in lines and "rm -rf" not in command.split("if ! ")[0]
    assert (
        f"PGPASSFILE={PGPASS} /usr/lib/postgresql/17/bin/pg_basebackup --no-password -h 10.0.0.10 -p 5432 "
        "-U replicator -D /var/lib/postgresql/17/main -S groundwork_rep1 -X stream -c fast"
    ) in command
    # standby.signal only after a complete copy; the cluster starts as a standby.
    assert lines[-2:] == [
        'install -o postgres -g postgres -m 0600 /dev/null "$data/standby.signal"',
        "systemctl start postgresql@17-main",
    ]


def test_the_config_check_asks_pg_hba_file_rules_only_for_columns_the_version_has():
    from groundwork.components.postgres.deploy import config_check_command

    # file_name came with PostgreSQL 16; on 15 (Debian 12) the query failed and every new config was refused.
    assert "file_name" not in config_check_command(15, 5432) and "'pg_hba.conf:' || line_number" in config_check_command(15, 5432)
    assert "file_name || ':' || line_number" in config_check_command(17, 5432)
