"""PostgreSQL state, read as the postgres superuser over the local socket.

Each fact is None while no server answers on the port (not installed yet, or
a port change not yet applied): the deploy then plans its idempotent SQL.
"""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase


def psql_binary(version: int | None) -> str:
    """The server version's own psql: Debian's /usr/bin/psql wrapper parses the cluster's
    config files first, so a broken one would break every fact (and every repair)."""
    return f"/usr/lib/postgresql/{int(version)}/bin/psql" if version else "psql"


def psql_query(sql: str, port: int, database: str = "postgres", version: int | None = None) -> str:
    return (
        f"if [ -S /var/run/postgresql/.s.PGSQL.{int(port)} ]; then "
        f"runuser -u postgres -- {psql_binary(version)} -X -A -t -q -F '\t' -p {int(port)} -d {shlex.quote(database)} "
        f"-c {shlex.quote(sql)}; fi"
    )


def _rows(output) -> list[list[str]]:
    return [line.split("\t") for line in output if line.strip()]


class PostgresRoles(FactBase):
    """name -> {superuser, createrole, createdb, login, replication, connection_limit, verifier}."""

    def command(self, port: int = 5432, version: int | None = None) -> str:
        return psql_query(
            "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolconnlimit, "
            "coalesce(rolpassword, '') FROM pg_authid",
            port, version=version,
        )

    def process(self, output):
        rows = _rows(output)
        if not rows:
            return None  # there is always a postgres role: no rows means no server
        return {
            name: {
                "superuser": sup == "t", "createrole": cr == "t", "createdb": cdb == "t",
                "login": login == "t", "replication": repl == "t", "connection_limit": int(limit),
                "verifier": verifier or None,
            }
            for name, sup, cr, cdb, login, repl, limit, verifier in rows
        }


class PostgresDatabases(FactBase):
    """name -> {owner, encoding, collate, ctype, connection_limit}."""

    def command(self, port: int = 5432, version: int | None = None) -> str:
        return psql_query(
            "SELECT datname, pg_get_userbyid(datdba), pg_encoding_to_char(encoding), "
            "datcollate, datctype, datconnlimit FROM pg_database",
            port, version=version,
        )

    def process(self, output):
        rows = _rows(output)
        if not rows:
            return None
        return {
            name: {"owner": owner, "encoding": enc, "collate": coll, "ctype": ctype,
                   "connection_limit": int(limit)}
            for name, owner, enc, coll, ctype, limit in rows
        }


class PostgresExtensions(FactBase):
    """extension name -> version, in one existing database."""

    def command(self, database: str, port: int = 5432, version: int | None = None) -> str:
        return psql_query("SELECT extname, extversion FROM pg_extension", port, database, version)

    def process(self, output):
        rows = _rows(output)
        return {name: version for name, version in rows} if rows else None


class PostgresReplicationSlots(FactBase):
    """slot name -> slot type ('physical'/'logical'), or None while no server answers."""

    def command(self, port: int = 5432, version: int | None = None) -> str:
        # The row for the current database makes the output non-empty while the server answers.
        return psql_query(
            "SELECT 'server', 'up' UNION ALL SELECT slot_name, slot_type FROM pg_replication_slots", port,
            version=version,
        )

    def process(self, output):
        rows = _rows(output)
        if not rows:
            return None
        return {name: kind for name, kind in rows[1:]}


class PostgresCluster(FactBase):
    """What the Debian cluster VERSION/main holds, read from its files (running or not).

    {"exists": data directory with PG_VERSION, "standby": standby.signal present,
    "databases": database directories under base/ (3 in a fresh initdb)}.
    """

    def command(self, version: int) -> str:
        data = f"/var/lib/postgresql/{int(version)}/main"
        return (
            f"if [ -f {data}/PG_VERSION ]; then echo exists; "
            f"if [ -e {data}/standby.signal ]; then echo standby; fi; "
            f"echo databases $(find {data}/base -mindepth 1 -maxdepth 1 -type d | wc -l); fi"
        )

    def process(self, output):
        lines = [line.strip() for line in output if line.strip()]
        databases = next((int(line.split()[1]) for line in lines if line.startswith("databases ")), 0)
        return {"exists": "exists" in lines, "standby": "standby" in lines, "databases": databases}
