"""What the monitoring component reads of a host."""

from __future__ import annotations

from pyinfra.api import FactBase

from ..postgres.access import MONITOR_ROLE
from ..postgres.facts import PsqlFact, Query, psql_query
from ..postgres.operations import quote_literal


class PostgresMonitorRole(PsqlFact, FactBase):
    """[can log in, member of pg_monitor, superuser] of the exporter's role, as 't'/'f';
    None without the role (or without a server on the port)."""

    def command(self, port: int = 5432, version: int | None = None) -> str:
        return psql_query(*self.query(port, version))

    def query(self, port: int = 5432, version: int | None = None) -> Query:
        return Query(
            f"SELECT rolcanlogin, pg_has_role(oid, 'pg_monitor', 'MEMBER'), rolsuper FROM pg_roles "
            f"WHERE rolname = {quote_literal(MONITOR_ROLE)}", port, version=version)

    def process(self, output):
        rows = [line.split("\t") for line in output if line.strip()]
        return rows[0] if rows else None
