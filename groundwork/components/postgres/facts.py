"""PostgreSQL state, read as the postgres superuser over the local socket.

Each fact is None while no server answers on the port (not installed yet, or
a port change not yet applied): the deploy then plans its idempotent SQL.
"""

from __future__ import annotations

import re
import secrets
import shlex
from typing import NamedTuple

from pyinfra.api import FactBase

from ... import factcache


def psql_binary(version: int | None) -> str:
    """The server version's own psql: Debian's /usr/bin/psql wrapper parses the cluster's
    config files first, so a broken one would break every fact (and every repair)."""
    return f"/usr/lib/postgresql/{int(version)}/bin/psql" if version else "psql"


def psql_query(sql: str, port: int, database: str = "postgres", version: int | None = None) -> str:
    return psql_session([sql], port, database, version)


def psql_session(commands: list[str], port: int, database: str = "postgres", version: int | None = None,
                 stop_on_error: bool = False) -> str:
    """`commands` (SQL, or one backslash command each) in one psql session as the postgres
    superuser; nothing while no server listens on the port's socket."""
    return (
        f"if [ -S /var/run/postgresql/.s.PGSQL.{int(port)} ]; then "
        f"runuser -u postgres -- {psql_binary(version)} -X -A -t -q -F '\t' "
        + ("-v ON_ERROR_STOP=1 " if stop_on_error else "")
        + f"-p {int(port)} -d {shlex.quote(database)} "
        + " ".join(f"-c {shlex.quote(command)}" for command in commands)
        + "; fi"
    )


class Query(NamedTuple):
    sql: str
    port: int
    database: str = "postgres"
    version: int | None = None


class PsqlFact:
    """A fact (with FactBase) read with one query over the local socket (`psql_query`).
    Its `query` takes the arguments its `command` does: the state read
    (groundwork.factcache) runs the queries of several such reads in one psql session."""

    def query(self, *args, **kwargs) -> Query:
        raise NotImplementedError


def _rows(output) -> list[list[str]]:
    return [line.split("\t") for line in output if line.strip()]


class PostgresRoles(PsqlFact, FactBase):
    """name -> {superuser, createrole, createdb, login, replication, connection_limit, verifier}."""

    def command(self, port: int = 5432, version: int | None = None) -> str:
        return psql_query(*self.query(port, version))

    def query(self, port: int = 5432, version: int | None = None) -> Query:
        return Query(
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


class PostgresDatabases(PsqlFact, FactBase):
    """name -> {owner, encoding, collate, ctype, connection_limit}."""

    def command(self, port: int = 5432, version: int | None = None) -> str:
        return psql_query(*self.query(port, version))

    def query(self, port: int = 5432, version: int | None = None) -> Query:
        return Query(
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


class PostgresExtensions(PsqlFact, FactBase):
    """extension name -> version, in one existing database."""

    def command(self, database: str, port: int = 5432, version: int | None = None) -> str:
        return psql_query(*self.query(database, port, version))

    def query(self, database: str, port: int = 5432, version: int | None = None) -> Query:
        return Query("SELECT extname, extversion FROM pg_extension", port, database, version)

    def process(self, output):
        rows = _rows(output)
        return {name: version for name, version in rows} if rows else None


class PostgresReplicationSlots(PsqlFact, FactBase):
    """slot name -> slot type ('physical'/'logical'), or None while no server answers."""

    def command(self, port: int = 5432, version: int | None = None) -> str:
        return psql_query(*self.query(port, version))

    def query(self, port: int = 5432, version: int | None = None) -> Query:
        # The first row makes the output non-empty while the server answers.
        return Query(
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


# --- the state read: every PsqlFact read of a server in one psql session --------------------

def _server(fact: PsqlFact, bound: dict) -> tuple:
    query = fact.query(**bound)
    return int(query.port), query.version


def _order(reads: list[tuple]) -> list[tuple[int, Query]]:
    """The reads (of one server) in the order the session runs them: the first read's
    database first, then by database, so each database is connected to once."""
    queries = [fact.query(**bound) for fact, bound in reads]
    first = queries[0].database
    return sorted(enumerate(queries), key=lambda item: (item[1].database != first, item[1].database))


def _session(reads: list[tuple]) -> str:
    """Reads of one server: their queries in one psql session, each read's rows
    followed by a line of their own; `\\c` moves between databases. An error stops psql
    with a non-zero exit (every read is then made alone); no server prints nothing."""
    order = _order(reads)
    database, commands = order[0][1].database, []
    for _, query in order:
        if query.database != database:
            if not _DATABASE_NAME.fullmatch(query.database):
                raise ValueError("a database name psql's \\c would need quoted")  # read alone
            database = query.database
            commands.append(f"\\c {database}")
        commands += [query.sql, f"\\echo {_NEXT_READ}"]
    first = order[0][1]
    return psql_session(commands, first.port, first.database, first.version, stop_on_error=True)


def _split(lines: list[str], reads: list[tuple]) -> list[list[str]] | None:
    if not lines:  # no server: what each read alone prints
        return [[] for _ in reads]
    parts = factcache.split_on(lines, _NEXT_READ)
    if len(parts) != len(reads) + 1 or parts[-1]:
        return None
    outputs: list[list[str]] = [[] for _ in reads]
    for (index, _), part in zip(_order(reads), parts):
        outputs[index] = part
    return outputs


# A line no query prints, to end each read's rows (random: a database's contents cannot forge it).
_NEXT_READ = f"groundwork-next-read-{secrets.token_hex(8)}"
_DATABASE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


factcache.combine(PsqlFact, _session, _split, group=_server)
