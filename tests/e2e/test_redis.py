"""deploys/redis.py on two lab hosts: converge, converge again, verify, and what
only a second host can show (Redis is closed to it).

The session's lab has one host; this module replaces it with lab1 + lab2 and
leaves a fresh lab1 behind for the modules after it.
"""

from __future__ import annotations

import json
import runpy
import shlex
import subprocess

import pytest

from groundwork.components.redis.deploy import password_hash
from groundwork.components.redis.settings import RedisSettings
from groundwork.lab import lab
from groundwork.lab.state import LabState
from groundwork.paths import ROOT
from groundwork.settings import build
from groundwork.testing.converge import converge
from groundwork.testing.secrets import with_secret
from groundwork.testing.verify import count_tests, run_verify

LAB_INVENTORY = "inventories/lab.py"
DEPLOY = "deploys/redis.py"
HOSTS = ["lab1", "lab2"]
NEW_PASSWORD = "lab-redis-new-app-password-not-secret"

# The lab's settings, as group_data/lab.py gives them to every lab host.
LAB_DATA = {k: v for k, v in runpy.run_path(str(ROOT / "group_data" / "lab.py")).items() if k.startswith("redis_")}
SETTINGS = build(RedisSettings, LAB_DATA, "lab")

def probe(on: str, address: str, port: int) -> str:
    return lab.probe_tcp(on, address, port)


def redis_as(on: str, user: str, password: str, *args: str) -> subprocess.CompletedProcess:
    """redis-cli on a lab host, the password on stdin (REDISCLI_AUTH), never in a command line."""
    command = with_secret("REDISCLI_AUTH", shlex.join(["redis-cli", "-p", str(SETTINGS.port), "--user", user, *args]))
    return subprocess.run(
        lab.ssh_argv(on, [command]), input=password + "\n", capture_output=True, text=True, timeout=30, check=False,
    )


def converge_redis(data: dict | None = None, timeout: float = 600):
    # systemd refuses a 6th start of a unit within 10 s (StartLimitBurst=5) and
    # leaves it stopped; this module's back-to-back converges restart Redis that
    # fast, a real converge restarts it once. reset-failed clears the count.
    for name in HOSTS:
        assert lab.run_on(name, "systemctl reset-failed redis-server || true").returncode == 0
    return converge(LAB_INVENTORY, DEPLOY, data=data, timeout=timeout)


def app_ping(on: str, password: str) -> str:
    result = redis_as(on, SETTINGS.app_user, password, "PING")
    return (result.stdout + result.stderr).strip()


@pytest.fixture(scope="module")
def two_hosts(lab_hosts):
    state = lab.up(HOSTS)
    yield state


@pytest.fixture(scope="module")
def first_converge(two_hosts):
    result = converge(LAB_INVENTORY, DEPLOY, timeout=900)  # a fresh host: nothing to reset
    assert result.ok, result.describe()
    return result


def test_first_converge_installs_and_restarts_redis_on_both_hosts(first_converge):
    assert first_converge.failed == {}
    for name in HOSTS:
        assert "Redis | Install redis-server" in first_converge.changed[name]
        assert "Redis | Upload the Redis ACL users" in first_converge.changed[name]
        assert "Redis | Restart redis-server" in first_converge.changed[name]


def test_converge_output_holds_no_password_or_hash(first_converge):
    output = json.dumps(first_converge.results) + first_converge.stderr
    secrets = [SETTINGS.app_password, SETTINGS.admin_password]
    secrets += [password_hash(s) for s in secrets]
    # A count, not the strings: a failing assert must not print them either.
    assert sum(s in output for s in secrets) == 0


def test_second_converge_changes_nothing(first_converge):
    again = converge_redis()
    assert again.ok, again.describe()
    assert again.results is not None
    assert again.changed == {}, again.describe()
    assert again.results["totals"]["no_change"] > 0


def test_verify_suite_passes_against_the_lab(first_converge):
    summary = run_verify("tests/verify/test_redis.py", inventory=LAB_INVENTORY)
    assert " passed" in summary and "failed" not in summary and "skipped" not in summary, summary
    # Every verify test ran on both hosts.
    tests = count_tests("tests/verify/test_redis.py")
    assert summary.startswith(f"{tests * len(HOSTS)} passed"), summary


def test_redis_is_closed_to_the_other_lab_host(first_converge):
    lab1 = LabState.load().hosts["lab1"].address
    # lab2 reaches lab1 (sshd answers), so a refusal on the Redis port is Redis's bind, not the network.
    assert probe("lab2", lab1, 22) == "open"
    # refused: nothing listens there; TimeoutError would be a firewall dropping it (filtered).
    assert probe("lab2", lab1, SETTINGS.port) in ("refused", "TimeoutError")
    assert probe("lab1", lab1, SETTINGS.port) == "refused"
    assert probe("lab1", "127.0.0.1", SETTINGS.port) == "open"


def test_changed_app_password_replaces_the_old_one(first_converge):
    old = SETTINGS.app_password
    try:
        changed = converge_redis({"redis_app_password": NEW_PASSWORD}, timeout=600)
        assert changed.ok, changed.describe()
        for name in HOSTS:
            # The upload marks the restart pending itself, before the file changes.
            assert changed.changed[name] == [
                "Redis | Upload the Redis ACL users", "Redis | Restart redis-server",
            ], changed.describe()
            assert app_ping(name, NEW_PASSWORD) == "PONG"
            assert "WRONGPASS invalid username-password pair or user is disabled" in app_ping(name, old)
    finally:
        back = converge_redis()
    assert back.ok, back.describe()
    for name in HOSTS:
        assert app_ping(name, old) == "PONG"
        assert "WRONGPASS" in app_ping(name, NEW_PASSWORD)


def test_turning_aof_on_keeps_the_data(first_converge):
    no_aof = converge_redis({"redis_appendonly": False}, timeout=600)
    assert no_aof.ok, no_aof.describe()
    put = redis_as("lab1", SETTINGS.app_user, SETTINGS.app_password, "-e", "SET", "groundwork:e2e:aof", "kept")
    assert put.stdout.strip() == "OK", put.stderr

    aof = converge_redis()
    assert aof.ok, aof.describe()
    got = redis_as("lab1", SETTINGS.app_user, SETTINGS.app_password, "-e", "GET", "groundwork:e2e:aof")
    assert got.stdout.strip() == "kept", got.stderr
    assert "Redis | Stop Redis to carry its RDB snapshot over to the new AOF" in aof.changed["lab1"], aof.describe()
    # With AOF on, Redis reads only the AOF when it starts: the key surviving a restart is in it.
    assert lab.run_on("lab1", "systemctl restart redis-server").returncode == 0
    got = redis_as("lab1", SETTINGS.app_user, SETTINGS.app_password, "-e", "GET", "groundwork:e2e:aof")
    assert got.stdout.strip() == "kept", got.stderr

    settled = converge_redis()
    assert settled.ok and settled.changed == {}, settled.describe()


def test_bad_setting_stops_the_run_before_any_host_is_touched(first_converge):
    before = lab.run_on("lab1", "stat -c %Y /etc/redis/redis.conf /etc/redis/users.acl").stdout
    result = converge(LAB_INVENTORY, DEPLOY, data={"redis_maxmemory_policy": "lru-everything"}, timeout=300)
    assert result.returncode != 0
    for name in HOSTS:
        assert (
            f"host {name}: redis_maxmemory_policy: expected one of 'noeviction', 'allkeys-lru', 'allkeys-lfu', "
            "'allkeys-random', 'volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl', "
            "got str ('lru-everything')"
        ) in result.stderr
    assert "Starting operation" not in result.stderr
    assert result.results is None
    assert lab.run_on("lab1", "stat -c %Y /etc/redis/redis.conf /etc/redis/users.acl").stdout == before
