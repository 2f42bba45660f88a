"""The data tier across hosts, and streaming replication (issue 8).

db1 (db, cache) serves Postgres and Redis to app1 (app) on its own address;
rep1 (replica) is a hot standby of db1 and may reach nothing else of it.
This module replaces the lab and leaves a fresh lab1.
"""

from __future__ import annotations

import time
import uuid

import pytest

from groundwork.lab import lab
from groundwork.lab.state import LabState
from groundwork.testing.converge import converge
from groundwork.testing.verify import run_verify

LAB_INVENTORY = "inventories/lab.py"
DEPLOYS = ["deploys/postgres.py", "deploys/redis.py", "deploys/firewall.py"]
APP_PASSWORD = "lab-app-password-not-secret"  # group_data/lab.py
REDIS_PASSWORD = "lab-redis-app-password-not-secret"  # group_data/lab.py
REPLICATION_PASSWORD = "lab-replication-password-not-secret"  # group_data/lab.py
CLIENTS = (
    "export DEBIAN_FRONTEND=noninteractive; pkgs='postgresql-client redis-tools'; "
    "apt-get install -y -q $pkgs >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q $pkgs; }"
)


def converge_data_tier():
    return converge(LAB_INVENTORY, DEPLOYS[0], extra_args=DEPLOYS[1:])


@pytest.fixture(scope="module")
def fleet(lab_hosts):
    lab.up(["db1:db,cache", "app1:app", "rep1:replica"])
    started = time.monotonic()
    first = converge_data_tier()
    assert first.ok, first.describe()
    # The replication password reached rep1's .pgpass and db1's role without showing anywhere.
    for text in (first.stderr, repr(first.results)):
        assert REPLICATION_PASSWORD not in text and "SCRAM-SHA-256$" not in text
    print(f"first converge of db1, app1, rep1: {time.monotonic() - started:.0f} s")
    installed = lab.run_on("app1", CLIENTS, timeout=600)
    assert installed.returncode == 0, installed.stderr
    yield {name: h.address for name, h in LabState.load().hosts.items()}


def as_app(on: str, address: str, sql: str):
    """psql on lab host `on` as the app role over TCP to `address`, the password on stdin."""
    return lab.run_on(
        on,
        "IFS= read -r PGPASSWORD && export PGPASSWORD && "
        f"psql -X -A -t -v ON_ERROR_STOP=1 -h {address} -U app -d app -c \"{sql}\"",
        stdin=APP_PASSWORD + "\n",
    )


def test_app_host_uses_postgres_and_redis_on_the_db_hosts_address(fleet):
    db1 = fleet["db1"]
    assert as_app("app1", db1, "SELECT current_user").stdout.strip() == "app"
    redis = lab.run_on(
        "app1", f"IFS= read -r REDISCLI_AUTH && export REDISCLI_AUTH && redis-cli -h {db1} --user app PING",
        stdin=REDIS_PASSWORD + "\n",
    )
    assert redis.stdout.strip() == "PONG", redis.stdout + redis.stderr


def test_replica_reaches_postgres_only_for_replication(fleet):
    db1 = fleet["db1"]
    assert lab.probe_tcp("rep1", db1, 6379) in ("refused", "TimeoutError")
    assert lab.probe_tcp("rep1", db1, 5432) == "open"  # ufw lets it stream ...
    refused = as_app("rep1", db1, "SELECT 1")  # ... and pg_hba lets it do nothing else
    assert refused.returncode != 0
    assert f'no pg_hba.conf entry for host "{fleet["rep1"]}", user "app", database "app"' in refused.stderr


def test_a_row_written_on_the_primary_appears_on_the_replica(fleet):
    token = uuid.uuid4().hex
    written = as_app(
        "db1", "127.0.0.1",
        f"CREATE TABLE IF NOT EXISTS replication_probe (token text); INSERT INTO replication_probe VALUES ('{token}')",
    )
    assert written.returncode == 0, written.stderr
    query = f"runuser -u postgres -- psql -X -A -t -d app -c \"SELECT count(*) FROM replication_probe WHERE token = '{token}'\""
    deadline = time.monotonic() + 30
    while True:
        seen = lab.run_on("rep1", query)
        if seen.stdout.strip() == "1" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert seen.stdout.strip() == "1", seen.stdout + seen.stderr
    assert lab.run_on("rep1", "runuser -u postgres -- psql -XAtc 'SELECT pg_is_in_recovery()'").stdout.strip() == "t"


def test_the_verify_suite_passes_on_every_data_tier_host(fleet):
    summary = run_verify(
        "tests/verify/test_replication.py", "tests/verify/test_postgres.py", "tests/verify/test_redis.py",
        inventory=LAB_INVENTORY,
    )
    assert "failed" not in summary and "error" not in summary, summary


def test_a_second_converge_changes_nothing(fleet):
    again = converge_data_tier()
    assert again.ok and again.changed == {}, again.describe()


def test_a_cluster_with_databases_of_its_own_is_never_cloned_over(fleet):
    """Last: it turns rep1 into a primary. A promoted standby holds the app's
    data; the next run must refuse to replace it with a copy of db1."""
    promoted = lab.run_on("rep1", "runuser -u postgres -- psql -XAtc 'SELECT pg_promote()'")
    assert promoted.stdout.strip() == "t", promoted.stderr
    refused = converge_data_tier()
    assert refused.returncode != 0
    assert (
        "rep1: refusing to make /var/lib/postgresql/17/main a standby of db1: it holds 1 database(s) of its own"
        in refused.stderr
    ), refused.describe()
    kept = lab.run_on("rep1", "runuser -u postgres -- psql -XAt -d app -c 'SELECT count(*) > 0 FROM replication_probe'")
    assert kept.stdout.strip() == "t", kept.stderr
