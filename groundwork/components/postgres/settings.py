"""Settings of the ``postgres`` component: server, tuning, roles, databases."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import ClassVar, Literal

from ...settings.grammar import (
    PG_ENCODING,
    PG_EXTENSION,
    PG_LOCALE,
    PG_PARAMETER,
    at_least,
    each,
    listen_address,
)
from ...settings.schema import ComponentSettings, matches, setting

IDENTIFIER = matches(r"[a-z_][a-z0-9_]{0,62}", "a lowercase SQL identifier (letters, digits, _)")


def _cidrs(values: tuple[str, ...]) -> str | None:
    # pg_hba.conf wants ADDRESS/BITS: a bare address or a dotted mask would be read wrongly.
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
            valid = re.fullmatch(r"[0-9A-Fa-f:.]+/\d{1,3}", value) is not None
        except ValueError:
            valid = False
        if not valid:
            return f"expected networks with a prefix length like 10.0.0.5/32 or 10.0.0.0/24, got {value!r}"
    return None


def _port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else f"expected a port from 1 to 65535, got {value}"


def _connection_limit(value: int) -> str | None:
    return None if value >= -1 else f"expected -1 (no limit) or more, got {value}"


def _password(value: str) -> str | None:
    # Never echo the value: this runs on a secret.
    if len(value) < 12:
        return f"expected at least 12 characters, got {len(value)}"
    if "\n" in value:
        return "expected a single line"
    return None


@dataclass(frozen=True)
class Role:
    name: str = setting(doc="Role name.", check=IDENTIFIER)
    password: str | None = setting(
        None, secret=True, check=_password,
        doc="Login password (stored as a SCRAM verifier); null for a role without one.",
    )
    login: bool = setting(True, doc="Whether the role may log in.")
    connection_limit: int = setting(-1, doc="Concurrent connections allowed; -1 for no limit.", check=_connection_limit)


@dataclass(frozen=True)
class Database:
    name: str = setting(doc="Database name.", check=IDENTIFIER)
    owner: str = setting(doc="Role that owns the database (one of postgres_roles, or postgres).", check=IDENTIFIER)
    encoding: str = setting("UTF8", doc="Character encoding; fixed when the database is created.", check=PG_ENCODING)
    locale: str = setting("C.UTF-8", doc="LC_COLLATE and LC_CTYPE; fixed when the database is created.", check=PG_LOCALE)
    extensions: list[str] = setting(
        default_factory=lambda: ["vector"],
        doc="Extensions created in the database by the superuser (vector is not a trusted extension).",
        check=each(PG_EXTENSION),
    )
    connection_limit: int = setting(-1, doc="Concurrent connections allowed; -1 for no limit.", check=_connection_limit)


# Parameters groundwork derives from other settings or the inventory: postgres_conf may not override them.
DERIVED_PARAMETERS = {
    "port": "postgres_port", "listen_addresses": "postgres_listen_addresses (or the inventory)",
    "password_encryption": "groundwork (scram-sha-256 only)", "hba_file": "groundwork's pg_hba.conf",
    "data_directory": "the Debian cluster", "config_file": "the Debian cluster",
    "hot_standby": "the replica group", "primary_conninfo": "the replica group",
    "primary_slot_name": "the replica group",
}


@dataclass(frozen=True)
class PostgresSettings(ComponentSettings):
    """PostgreSQL with pgvector: install, tuning, pg_hba, roles, databases (deploys/postgres.py)."""

    prefix: ClassVar[str] = "postgres"

    version: int | None = setting(
        None, doc="Major version; null takes the distribution's own (17 on Debian 13, 16 on Ubuntu 24.04).",
    )
    apt_repository: Literal["distribution", "pgdg"] = setting(
        "distribution",
        doc="Where packages come from: the distribution, or the PostgreSQL project's repository "
        "(needed for pgvector on Debian 12 / Ubuntu 22.04, and for other major versions).",
    )
    port: int = setting(5432, doc="TCP port.", check=_port)
    listen_addresses: list[str] | None = setting(
        None,
        doc="Addresses the server listens on; null derives them from the inventory: loopback, plus the "
        "host's own address (groundwork.fleet: private_address, else ssh_hostname) when app/worker hosts or replicas connect. "
        "A list set here wins.",
        check=each(listen_address),
    )
    allowed_clients: list[str] | None = setting(
        None,
        doc="Addresses or networks admitted by pg_hba (scram-sha-256) besides loopback; null admits "
        "exactly the other app/worker hosts of the inventory (/32 or /128). A list set here wins.",
        check=_cidrs,
    )
    replication_user: str = setting(
        "replicator",
        doc="Role the hosts of the `replica` group stream WAL as (REPLICATION, no other rights).",
        check=IDENTIFIER,
    )
    replication_password: str | None = setting(
        None, secret=True, check=_password,
        doc="Password of replication_user (stored as a SCRAM verifier on the primary, in ~postgres/.pgpass "
        "on replicas). Required when the inventory has a `replica` group.",
    )
    max_connections: int = setting(100, doc="max_connections; work_mem is derived from it.")
    start_timeout: int = setting(
        90, doc="Seconds a (re)started server has to accept a query before its previous config is put back and the run fails.",
        check=at_least(5),
    )
    storage: Literal["ssd", "hdd"] = setting("ssd", doc="Disk kind, for random_page_cost and effective_io_concurrency.")
    conf: dict[str, str] = setting(
        default_factory=dict,
        doc="postgresql.conf parameters that override the derived tuning, e.g. {'work_mem': '16MB'}.",
    )
    roles: list[Role] = setting(default_factory=list, doc="Roles; app roles are NOSUPERUSER NOCREATEROLE NOCREATEDB.")
    databases: list[Database] = setting(default_factory=list, doc="Databases with their owner and extensions.")

    @property
    def wants_vector(self) -> bool:
        """Whether a database asks for pgvector (its package is installed only then)."""
        return any("vector" in db.extensions for db in self.databases)

    def cross_check(self):
        # PostgreSQL's MAX_BACKENDS is 262143, shared with workers and WAL senders.
        if not 5 <= self.max_connections <= 262000:
            yield "max_connections", f"expected 5 to 262000, got {self.max_connections}"
        roles = [r.name for r in self.roles]
        for i, name in enumerate(roles):
            if name == "postgres" or name in roles[:i]:
                yield f"roles[{i}].name", f"expected a unique role other than postgres, got {name!r}"
        if self.replication_user == "postgres" or self.replication_user in roles:
            yield "replication_user", (
                f"expected a role of its own, not postgres or one of postgres_roles, got {self.replication_user!r}"
            )
        owners = ["postgres", *roles]
        names = [d.name for d in self.databases]
        for i, db in enumerate(self.databases):
            if db.owner not in owners:
                yield f"databases[{i}].owner", f"expected one of {', '.join(map(repr, owners))}, got {db.owner!r}"
            if db.name in names[:i] or db.name in ("postgres", "template0", "template1"):
                yield f"databases[{i}].name", f"expected a unique database other than the built-in ones, got {db.name!r}"
        for key in self.conf:
            if PG_PARAMETER(key):
                yield f"conf[{key!r}]", "expected a postgresql.conf parameter name like 'work_mem'"
            elif key in DERIVED_PARAMETERS:
                yield f"conf[{key!r}]", (
                    f"expected a parameter groundwork does not set itself; {key} comes from "
                    f"{DERIVED_PARAMETERS[key]}"
                )

    def inventory_check(self, inventory_groups):
        if "replica" in inventory_groups and self.replication_password is None:
            yield "replication_password", (
                "required when the inventory has a `replica` group, not set (replicas stream as replication_user)"
            )
