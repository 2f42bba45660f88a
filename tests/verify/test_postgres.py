"""PostgreSQL with pgvector, verified on the `db` hosts of any inventory."""

from __future__ import annotations

import ipaddress
import re

import pytest

from groundwork.components.postgres.access import MONITOR_ROLE
from groundwork.components.postgres.tuning import postgres_tuning
from groundwork.testing.secrets import run_with_secret

pytestmark = pytest.mark.group("db")

UNITS = {"kB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def psql(host, settings, sql: str, database: str = "postgres") -> str:
    """A query as the postgres superuser over the local socket (peer auth)."""
    return host.check_output(
        "runuser -u postgres -- psql -X -A -t -p %s -d %s -c %s", str(settings.postgres.port), database, sql
    )


def app_databases(settings):
    """(database, owner role) pairs whose owner has a password to log in with."""
    roles = {r.name: r for r in settings.postgres.roles}
    pairs = [(db, roles[db.owner]) for db in settings.postgres.databases if db.owner in roles and roles[db.owner].password]
    if not pairs:
        pytest.skip("no database owned by a role with a password")
    return pairs


def as_role(host, settings, role, database: str, sql: str):
    """A query over TCP as an app role, the password passed on stdin."""
    return run_with_secret(
        host, "PGPASSWORD", role.password,
        f"psql -X -A -t -h 127.0.0.1 -p {settings.postgres.port} -U {role.name} -d {database} -c \"{sql}\"",
    )


def test_postgres_is_active_and_enabled(host):
    assert host.service("postgresql").is_enabled
    running = host.check_output("systemctl list-units --state=running --no-legend --plain 'postgresql@*-main.service'")
    assert re.match(r"postgresql@\d+-main\.service ", running), running


def test_postgres_listens_only_on_configured_addresses(host, settings):
    sockets = host.check_output("ss -Hltn 'sport = :%s' | awk '{print $4}'", str(settings.postgres.port)).split()
    assert sockets, "nothing listens on the Postgres port"
    addresses = {re.sub(r":\d+$", "", s).strip("[]") for s in sockets}
    if list(settings.postgres.listen_addresses) == ["localhost"]:
        assert addresses <= {"127.0.0.1", "::1"}
    else:
        assert addresses <= set(settings.postgres.listen_addresses) | {"127.0.0.1", "::1"}


def test_hba_admits_exactly_the_configured_clients(host, settings):
    rows = psql(
        host, settings,
        "SELECT database[1], user_name[1], address || '/' || coalesce(netmask, '') FROM pg_hba_file_rules "
        "WHERE type = 'host' AND error IS NULL AND address NOT IN ('127.0.0.1', '::1')",
    ).splitlines()
    clients = {tuple(row.split("|")) for row in rows if not row.startswith("replication|")}
    expected = set()
    for client in settings.postgres.allowed_clients:
        network = ipaddress.ip_network(client, strict=False)
        expected.add(("all", "all", f"{network.network_address}/{network.netmask}"))
    assert clients == expected


def test_vector_extension_answers_in_app_database_as_app_role(host, settings):
    for db, role in app_databases(settings):
        if "vector" not in db.extensions:
            continue
        result = as_role(host, settings, role, db.name, "SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        assert result.rc == 0, result.stderr
        assert re.fullmatch(r"\d+\.\d+\.\d+", result.stdout.strip())


def test_vector_similarity_query_works(host, settings):
    for db, role in app_databases(settings):
        if "vector" not in db.extensions:
            continue
        sql = (
            "CREATE TEMP TABLE gw_items (id int, embedding vector(3)); "
            "INSERT INTO gw_items VALUES (1, '[1,0,0]'), (2, '[0,1,0]'), (3, '[0.9,0.1,0]'); "
            "SELECT string_agg(id::text, ',') FROM (SELECT id FROM gw_items ORDER BY embedding <-> '[1,0,0]' LIMIT 2) t"
        )
        result = as_role(host, settings, role, db.name, sql)
        assert result.rc == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == "1,3"


def test_wrong_password_is_refused(host, settings):
    for db, role in app_databases(settings):
        result = run_with_secret(
            host, "PGPASSWORD", role.password + "-wrong",
            f"psql -X -A -t -h 127.0.0.1 -p {settings.postgres.port} -U {role.name} -d {db.name} -c 'SELECT 1'",
        )
        assert result.rc != 0
        assert "password authentication failed" in result.stderr


def test_hba_host_lines_use_only_scram(host, settings):
    # Over the socket, peer for the superuser and (when monitored) the exporter's role alone.
    peers = {"{postgres}"} | ({f"{{{MONITOR_ROLE}}}"} if settings.monitoring.enabled else set())
    rows = psql(host, settings, "SELECT type, user_name, auth_method FROM pg_hba_file_rules WHERE error IS NULL").splitlines()
    assert rows
    for row in rows:
        kind, users, method = row.split("|")
        if kind.startswith("host"):
            assert method == "scram-sha-256", row
        else:
            assert method == "scram-sha-256" or (users in peers and method == "peer"), row


def test_all_role_passwords_are_scram(host, settings):
    verifiers = psql(host, settings, "SELECT rolname || ' ' || left(rolpassword, 14) FROM pg_authid WHERE rolpassword IS NOT NULL").splitlines()
    assert all(v.split()[1] == "SCRAM-SHA-256$" for v in verifiers), verifiers
    assert psql(host, settings, "SHOW password_encryption") == "scram-sha-256"


def test_app_roles_are_not_privileged(host, settings):
    for role in settings.postgres.roles:
        flags = psql(host, settings, f"SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = '{role.name}'")
        assert flags == "f|f|f", role.name


def test_databases_have_declared_owner_and_extensions(host, settings):
    for db in settings.postgres.databases:
        owner = psql(host, settings, f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{db.name}'")
        assert owner == db.owner
        installed = set(psql(host, settings, "SELECT extname FROM pg_extension", database=db.name).split())
        assert set(db.extensions) <= installed


def test_tuning_matches_the_formula_for_this_host(host, settings):
    mem_bytes = int(host.check_output("awk '/^MemTotal:/ {print $2}' /proc/meminfo")) * 1024
    cpus = int(host.check_output("nproc"))
    expected = postgres_tuning(mem_bytes, cpus, settings.postgres.max_connections, settings.postgres.storage)
    expected.update(settings.postgres.conf)
    for name, value in expected.items():
        actual = psql(host, settings, f"SHOW {name}")
        assert _normalize(actual) == _normalize(value), f"{name}: {actual} != {value}"


def test_config_files_are_not_world_readable(host):
    listing = host.check_output("find /etc/postgresql -type f -perm /o=rwx")
    assert listing == ""


def _normalize(value: str):
    match = re.fullmatch(r"(\d+)\s*(kB|MB|GB|TB)", value)
    return int(match[1]) * UNITS[match[2]] if match else value
