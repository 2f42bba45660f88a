"""Postgres hot standbys, verified on the `replica` hosts of any inventory.

Nothing here writes: the one write attempted must be refused by the standby.
"""

from __future__ import annotations

import pytest

from groundwork.components.postgres.access import slot_name
from groundwork.components.postgres.deploy import PGPASS

pytestmark = pytest.mark.group("replica")


def psql(host, settings, sql: str) -> str:
    """A query as the postgres superuser over the local socket (peer auth)."""
    return host.check_output("runuser -u postgres -- psql -X -A -t -p %s -c %s", str(settings.postgres.port), sql)


def test_replica_is_a_hot_standby(host, settings):
    assert psql(host, settings, "SELECT pg_is_in_recovery()") == "t"
    assert psql(host, settings, "SHOW hot_standby") == "on"


def test_replica_streams_from_the_db_host_through_its_slot(host, settings, inventory, inventory_host):
    primary = inventory.primary_of(inventory_host)
    row = psql(host, settings, "SELECT status, slot_name, sender_host, sender_port FROM pg_stat_wal_receiver")
    expected = [
        "streaming", slot_name(inventory_host.name), primary.address, str(primary.settings.postgres.port),
    ]
    assert row.split("|") == expected


def test_replica_has_replayed_wal(host, settings):
    assert psql(host, settings, "SELECT pg_last_wal_replay_lsn() IS NOT NULL") == "t"


def test_replica_refuses_writes(host, settings):
    result = host.run(
        "runuser -u postgres -- psql -X -A -t -p %s -c 'CREATE TABLE groundwork_verify_write (id int)'",
        str(settings.postgres.port),
    )
    assert result.rc != 0
    assert "cannot execute CREATE TABLE in a read-only transaction" in result.stderr


def test_replication_password_is_only_in_the_private_password_file(host, settings):
    f = host.file(PGPASS)
    assert (f.user, f.group, f.mode) == ("postgres", "postgres", 0o600)
    conninfo = psql(host, settings, "SHOW primary_conninfo")
    assert "password" not in conninfo and f"passfile={PGPASS}" in conninfo
