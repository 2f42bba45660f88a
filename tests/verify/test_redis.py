"""Redis component, verified on any inventory: pytest tests/verify --inventory FILE

Nothing here changes data a live Redis holds: the one key written expires in a
minute, and FLUSHALL is only queued in a transaction that is discarded.
Passwords reach redis-cli on stdin (REDISCLI_AUTH), never in a command line.
"""

from __future__ import annotations

import re
import shlex

import pytest

from groundwork.components.redis.deploy import CONFIG, USERS_ACL, password_hash
from groundwork.components.redis.settings import ADMIN_USER, memory_bytes
from groundwork.testing.secrets import run_with_secret

pytestmark = pytest.mark.group("cache")

PENDING_MARKER = "/var/lib/groundwork/pending/redis-server.restart"
VERIFY_KEY = "groundwork:verify"


def redis_cli(settings, *args: str, user: str | None = None) -> str:
    """A redis-cli command line reaching the host's Redis where it listens."""
    address = settings.redis.listen_addresses[0]
    # A wildcard bind accepts connections on loopback too.
    address = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(address, address)
    argv = ["redis-cli", "-h", address, "-p", str(settings.redis.port)]
    if user is not None:
        argv += ["--user", user]
    return shlex.join([*argv, *args])


def as_app(host, settings, command: str):
    return run_with_secret(host, "REDISCLI_AUTH", settings.redis.app_password, command)


def as_admin(host, settings, *args: str) -> str:
    if settings.redis.admin_password is None:
        pytest.skip("redis_admin_password is not set: no admin user to read the live config")
    result = run_with_secret(
        host, "REDISCLI_AUTH", settings.redis.admin_password, redis_cli(settings, "-e", *args, user=ADMIN_USER)
    )
    assert result.rc == 0, result.stdout + result.stderr
    return result.stdout


def live_config(host, settings, parameter: str) -> str:
    name, value = as_admin(host, settings, "CONFIG", "GET", parameter).splitlines()
    assert name == parameter
    return value


def host_memory_bytes(host) -> int:
    fields = host.check_output("grep '^MemTotal:' /proc/meminfo").split()
    assert fields[2] == "kB", fields
    return int(fields[1]) * 1024


def test_redis_service_is_active_and_enabled(host):
    redis = host.service("redis-server")
    assert redis.is_running
    assert redis.is_enabled


def test_redis_runs_with_the_current_config(host):
    assert not host.file(PENDING_MARKER).exists


def test_redis_listens_only_where_configured(host, settings):
    lines = host.check_output("ss -Htlnp").splitlines()
    listening = {line.split()[3] for line in lines if '"redis-server"' in line}
    port = settings.redis.port

    def socket(address: str) -> str:
        address = address.removeprefix("-")
        return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"

    wanted = {socket(a) for a in settings.redis.bind}
    # '-' marks an address Redis may skip when the host lacks it (no IPv6).
    required = {socket(a) for a in settings.redis.bind if not a.startswith("-")}
    assert listening, "redis-server listens on no TCP socket"
    assert required <= listening <= wanted, lines


def test_redis_rejects_unauthenticated_ping(host, settings):
    result = host.run(redis_cli(settings, "PING"))
    assert "NOAUTH Authentication required." in result.stdout
    assert "PONG" not in result.stdout


def test_redis_default_user_cannot_log_in(host, settings):
    # The app's password, offered for `default`: a disabled user takes none.
    result = as_app(host, settings, redis_cli(settings, "PING", user="default"))
    assert "WRONGPASS invalid username-password pair or user is disabled" in result.stderr
    assert "PONG" not in result.stdout


def test_redis_app_user_can_set_and_get(host, settings):
    command = " && ".join([
        redis_cli(settings, "-e", "SET", VERIFY_KEY, "ok", "EX", "60", user=settings.redis.app_user),
        redis_cli(settings, "-e", "GET", VERIFY_KEY, user=settings.redis.app_user),
        redis_cli(settings, "-e", "DEL", VERIFY_KEY, user=settings.redis.app_user),
    ])
    result = as_app(host, settings, command)
    assert result.rc == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == ["OK", "ok", "1"]


def noperm(line: str, user: str) -> str | None:
    """The command a NOPERM error names, as Redis 7.2+ ("User app has no ...") and 7.0
    (Debian 12: "this user has no ...") word it; None for any other line."""
    found = re.fullmatch(rf"NOPERM (?:User {re.escape(user)}|this user) has no permissions to run the '([^']+)' command", line)
    return found.group(1) if found else None


def test_redis_app_user_cannot_run_config(host, settings):
    result = as_app(host, settings, redis_cli(settings, "CONFIG", "GET", "maxmemory", user=settings.redis.app_user))
    assert noperm(result.stdout.strip(), settings.redis.app_user) == "config|get"


def test_redis_app_user_cannot_run_flushall(host, settings):
    # Queued in a transaction and discarded: even a wrongly allowed FLUSHALL never runs.
    cli = redis_cli(settings, user=settings.redis.app_user)
    result = as_app(host, settings, f"printf 'MULTI\\nFLUSHALL\\nDISCARD\\n' | {cli}")
    lines = result.stdout.splitlines()
    assert len(lines) == 4 and (lines[0], lines[2], lines[3]) == ("OK", "", "OK"), lines
    assert noperm(lines[1], settings.redis.app_user) == "flushall"


def test_redis_config_file_has_the_derived_maxmemory(host, settings):
    expected = settings.redis.maxmemory_bytes(host_memory_bytes(host))
    lines = [line for line in host.file(CONFIG).content_string.splitlines() if line.startswith("maxmemory ")]
    assert len(lines) == 1, lines
    assert memory_bytes(lines[0].split()[1]) == expected


def test_redis_runs_with_the_derived_maxmemory(host, settings):
    expected = settings.redis.maxmemory_bytes(host_memory_bytes(host))
    assert int(live_config(host, settings, "maxmemory")) == expected


def test_redis_runs_with_the_configured_eviction_policy(host, settings):
    assert live_config(host, settings, "maxmemory-policy") == settings.redis.maxmemory_policy


def test_redis_runs_with_the_configured_persistence(host, settings):
    assert live_config(host, settings, "appendonly") == ("yes" if settings.redis.appendonly else "no")
    assert live_config(host, settings, "appendfsync") == settings.redis.appendfsync
    assert live_config(host, settings, "save") == " ".join(settings.redis.save)
    assert live_config(host, settings, "dir") == "/var/lib/redis"


def test_redis_files_are_readable_only_by_redis(host):
    for path in (CONFIG, USERS_ACL):
        f = host.file(path)
        assert (f.user, f.group, f.mode) == ("redis", "redis", 0o640), path


def test_redis_files_hold_no_plaintext_password(host, settings):
    # Booleans and paths only in the asserts: pytest would print the values compared.
    passwords = [p for p in (settings.redis.app_password, settings.redis.admin_password) if p]
    leaked = [path for path in (CONFIG, USERS_ACL) if any(p in host.file(path).content_string for p in passwords)]
    assert leaked == []
    app_line = f"user {settings.redis.app_user} on #{password_hash(settings.redis.app_password)} "
    has_app_hash = app_line in host.file(USERS_ACL).content_string
    assert has_app_hash, "users.acl lacks the app user with the SHA-256 of redis_app_password"
