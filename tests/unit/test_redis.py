"""The redis component without a host: settings and their messages, the maxmemory
formula, redis.conf as pyinfra renders it, and the ACL users file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import jinja2
import jinja2.meta
import pytest
from pyinfra.api.util import get_template

from groundwork.components import SETTINGS_CLASSES
from groundwork.components.redis.deploy import password_hash, users_acl
from groundwork.components.redis.settings import (
    RedisSettings,
    derived_maxmemory,
    memory_bytes,
)
from groundwork.paths import template
from groundwork.settings import (
    SettingsError,
    build,
    redacted,
    validate_host,
)
from groundwork.settings.schema import deploy_problems

HEADER = "# managed by groundwork; local edits are overwritten"
APP_PASSWORD = "app-password-for-unit-tests"
ADMIN_PASSWORD = "admin-password-for-unit-tests"
REQUIRED = {"redis_app_password": APP_PASSWORD}
MIB = 1024 * 1024
GIB = 1024 * MIB


def redis(**data) -> RedisSettings:
    return build(RedisSettings, {**REQUIRED, **data}, "web1")


def problems_of(**data) -> list[str]:
    with pytest.raises(SettingsError) as info:
        build(RedisSettings, {**REQUIRED, **data}, "web1")
    return info.value.problems


# --- settings ----------------------------------------------------------------------------


def test_defaults():
    s = redis()
    assert s.bind is None  # derived from the inventory (groundwork.datatier.redis_bind)
    assert s.port == 6379
    assert (s.app_user, s.app_password, s.app_acl) == ("app", APP_PASSWORD, "~* &* +@all -@admin -@dangerous")
    assert s.admin_password is None
    assert (s.maxmemory, s.maxmemory_fraction, s.maxmemory_policy) == (None, 0.25, "allkeys-lru")
    assert (s.appendonly, s.appendfsync) == (True, "everysec")
    assert s.save == ("3600 1", "300 100", "60 10000")


def test_redis_settings_are_registered():
    assert RedisSettings in SETTINGS_CLASSES
    assert RedisSettings.prefix == "redis"


def test_app_password_is_required_only_where_redis_runs():
    settings = build(RedisSettings, {}, "web1")
    assert settings.app_password is None
    assert deploy_problems("web1", settings) == [
        "host web1: redis_app_password: required on a host that runs Redis, not set (the app's ACL user needs it)"
    ]
    assert deploy_problems("web1", build(RedisSettings, REQUIRED, "web1")) == []


def test_bad_policy_names_the_key_and_the_choices():
    assert problems_of(redis_maxmemory_policy="lru-everything") == [
        ("host web1: redis_maxmemory_policy: expected one of 'noeviction', 'allkeys-lru', 'allkeys-lfu', "
        "'allkeys-random', 'volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl', "
        "got str ('lru-everything')")
    ]


def test_bad_policy_stops_the_whole_inventory_check():
    # What groundwork.deploy runs for every host before any fact or operation.
    with pytest.raises(SettingsError) as info:
        validate_host("web1", {**REQUIRED, "redis_maxmemory_policy": "lru-everything"}, SETTINGS_CLASSES)
    assert [p for p in info.value.problems if "redis_" in p] == [
        ("host web1: redis_maxmemory_policy: expected one of 'noeviction', 'allkeys-lru', 'allkeys-lfu', "
        "'allkeys-random', 'volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl', "
        "got str ('lru-everything')")
    ]


def test_unknown_redis_key_is_refused():
    with pytest.raises(SettingsError) as info:
        validate_host("web1", {**REQUIRED, "redis_maxmemory_polcy": "noeviction"}, SETTINGS_CLASSES)
    assert "host web1: redis_maxmemory_polcy: unknown setting (did you mean redis_maxmemory_policy?)" in (
        info.value.problems
    )


@pytest.mark.parametrize("key", ["redis_app_password", "redis_admin_password"])
def test_short_password_is_refused_without_echoing_it(key):
    problems = problems_of(**{key: "short-secret"})
    assert problems == [f"host web1: {key}: expected a password of at least 16 characters, got a shorter one"]
    assert "short-secret" not in str(problems)


@pytest.mark.parametrize(
    "key, expected", [("redis_app_password", "a string or null"), ("redis_admin_password", "a string or null")]
)
def test_password_of_a_wrong_type_is_hidden(key, expected):
    # pyinfra's --data turns digits into an int: the message must still not show them.
    problems = problems_of(**{key: 1234567890123456789})
    assert problems == [f"host web1: {key}: expected {expected}, got int (value hidden)"]


def test_secrets_are_masked_for_logs():
    shown = redacted(redis(redis_admin_password=ADMIN_PASSWORD))
    assert shown["app_password"] == shown["admin_password"] == "********"
    assert APP_PASSWORD not in repr(shown) and ADMIN_PASSWORD not in repr(shown)


@pytest.mark.parametrize(
    "data, problem",
    [
        ({"redis_bind": []}, "redis_bind: expected at least one address, got an empty list"),
        (
            {"redis_bind": ["127.0.0.1", "localhost"]},
            "redis_bind: expected IP addresses like '127.0.0.1' (a leading '-' marks one that may be missing), got 'localhost'",
        ),
        ({"redis_bind": "127.0.0.1"}, "redis_bind: expected a list or null, got str ('127.0.0.1')"),
        ({"redis_port": 0}, "redis_port: expected a port from 1 to 65535, got 0"),
        ({"redis_port": 65536}, "redis_port: expected a port from 1 to 65535, got 65536"),
        ({"redis_app_user": "default"}, "redis_app_user: expected a user name other than 'default', 'admin', 'groundwork-exporter', got 'default'"),
        ({"redis_app_user": "admin"}, "redis_app_user: expected a user name other than 'default', 'admin', 'groundwork-exporter', got 'admin'"),
        (
            {"redis_app_user": "my app"},
            "redis_app_user: expected a user name of letters, digits, '_', '.', '-', got 'my app'",
        ),
        ({"redis_app_acl": " "}, "redis_app_acl: expected ACL rules like '~* &* +@all -@admin -@dangerous', got ''"),
        (
            {"redis_app_acl": "~* +@all"},
            ("redis_app_acl: expected rules that leave out @admin and @dangerous "
            "(e.g. '+@all -@admin -@dangerous'), got '~* +@all'"),
        ),
        (
            {"redis_app_acl": "~* -@admin -@dangerous +@all"},
            ("redis_app_acl: expected rules that leave out @admin and @dangerous "
            "(e.g. '+@all -@admin -@dangerous'), got '~* -@admin -@dangerous +@all'"),
        ),
        (
            {"redis_app_acl": "~* +@read +@admin"},
            ("redis_app_acl: expected rules that leave out @admin and @dangerous "
            "(e.g. '+@all -@admin -@dangerous'), got '~* +@read +@admin'"),
        ),
        (
            {"redis_maxmemory": "lots"},
            "redis_maxmemory: expected a size like '256mb' or '2gb' (digits, then k, kb, m, mb, g or gb), got 'lots'",
        ),
        (
            {"redis_maxmemory": "0"},
            "redis_maxmemory: expected a size like '256mb' or '2gb' (digits, then k, kb, m, mb, g or gb), got '0'",
        ),
        ({"redis_maxmemory_fraction": 0}, "redis_maxmemory_fraction: expected a share of RAM above 0 and at most 0.9, got 0.0"),
        ({"redis_maxmemory_fraction": 0.95}, "redis_maxmemory_fraction: expected a share of RAM above 0 and at most 0.9, got 0.95"),
        ({"redis_appendonly": "yes"}, "redis_appendonly: expected a boolean, got str ('yes')"),
        ({"redis_appendfsync": "sometimes"}, "redis_appendfsync: expected one of 'always', 'everysec', 'no', got str ('sometimes')"),
        ({"redis_save": ["3600"]}, "redis_save: expected snapshot rules 'SECONDS CHANGES' like '3600 1', got '3600'"),
        ({"redis_save": ["60 0"]}, "redis_save: expected snapshot rules 'SECONDS CHANGES' like '3600 1', got '60 0'"),
    ],
)
def test_invalid_value_is_refused_with_the_key(data, problem):
    assert problems_of(**data) == [f"host web1: {problem}"]


def test_acl_with_a_password_rule_is_refused_without_echoing_it():
    problems = problems_of(redis_app_acl="~* +@read >hunter2hunter2")
    assert problems == [
        ("host web1: redis_app_acl: expected ACL rules without password, nopass, on/off or reset rules "
        "(groundwork sets those)")
    ]
    assert "hunter2" not in str(problems)


@pytest.mark.parametrize("rules", ["nopass ~* +@read", "on ~* +@read", "~* +@read #abcd", "reset ~* +@read"])
def test_acl_rules_groundwork_owns_are_refused(rules):
    (problem,) = problems_of(redis_app_acl=rules)
    assert problem.startswith("host web1: redis_app_acl: expected ACL rules without password")


@pytest.mark.parametrize(
    "rules", ["~* &* +@all -@admin -@dangerous", "~cache:* +@read +@write -@dangerous", "~* allcommands -@dangerous -@admin"]
)
def test_acl_rules_that_leave_out_admin_are_accepted(rules):
    assert redis(redis_app_acl=rules).app_acl == rules


def test_valid_values_are_kept():
    s = redis(
        redis_bind=["10.0.0.5", "127.0.0.1", "-::1"], redis_port=6380, redis_maxmemory="2gb",
        redis_maxmemory_policy="noeviction", redis_appendonly=False, redis_appendfsync="always", redis_save=[],
        redis_admin_password=ADMIN_PASSWORD,
    )
    assert s.bind == ("10.0.0.5", "127.0.0.1", "-::1")
    assert (s.port, s.maxmemory, s.maxmemory_policy) == (6380, "2gb", "noeviction")
    assert (s.appendonly, s.appendfsync, s.save, s.admin_password) == (False, "always", (), ADMIN_PASSWORD)


# --- maxmemory ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "total, fraction, expected",
    [
        (4 * GIB, 0.25, GIB),
        # A lab host: MemTotal 24683656 kB.
        (24683656 * 1024, 0.25, 6026 * MIB),
        (1000 * MIB + 123, 0.5, 500 * MIB),
        (1001 * MIB, 0.5, 500 * MIB),  # rounded down to whole MiB
        (2 * MIB, 0.25, MIB),  # never below 1 MiB (0 would mean no limit at all)
        (0, 0.25, MIB),
    ],
)
def test_derived_maxmemory(total, fraction, expected):
    assert derived_maxmemory(total, fraction) == expected


@pytest.mark.parametrize(
    "size, expected",
    [("1048576", MIB), ("256mb", 256 * MIB), ("256MB", 256 * MIB), ("2gb", 2 * GIB), ("1g", 10**9),
     ("10m", 10**7), ("64k", 64000), ("64kb", 65536)],
)
def test_memory_bytes_reads_redis_units(size, expected):
    assert memory_bytes(size) == expected


def test_memory_bytes_refuses_unknown_units():
    with pytest.raises(ValueError) as exc:
        memory_bytes("2tb")
    assert str(exc.value) == "not a Redis size: '2tb'"


def test_maxmemory_bytes_prefers_the_explicit_size():
    assert redis(redis_maxmemory="256mb").maxmemory_bytes(64 * GIB) == 256 * MIB
    assert redis(redis_maxmemory_fraction=0.5).maxmemory_bytes(8 * GIB) == 4 * GIB
    assert redis().maxmemory_bytes(8 * GIB) == 2 * GIB


# --- redis.conf ---------------------------------------------------------------------------

CONF_VARIABLES = {"bind", "port", "aclfile", "maxmemory", "maxmemory_policy", "appendonly", "appendfsync", "save"}


def render_conf(**overrides) -> str:
    data = {
        "bind": ["127.0.0.1", "-::1"], "port": 6379, "aclfile": "/etc/redis/users.acl", "maxmemory": "6026mb",
        "maxmemory_policy": "allkeys-lru", "appendonly": True, "appendfsync": "everysec",
        "save": ["3600 1", "300 100", "60 10000"],
    }
    return get_template(template("etc/redis/redis.conf")).render({**data, **overrides})


def directives(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_redis_conf_with_the_defaults():
    text = render_conf()
    assert text.splitlines()[0] == HEADER
    assert text.endswith("\n")
    assert directives(text) == [
        "bind 127.0.0.1 -::1",
        "port 6379",
        "protected-mode yes",
        "tcp-backlog 511",
        "timeout 0",
        "tcp-keepalive 300",
        "daemonize no",
        "supervised systemd",
        "pidfile /run/redis/redis-server.pid",
        "loglevel notice",
        'logfile ""',
        "databases 16",
        "always-show-logo no",
        "set-proc-title yes",
        "aclfile /etc/redis/users.acl",
        "maxmemory 6026mb",
        "maxmemory-policy allkeys-lru",
        "dir /var/lib/redis",
        "dbfilename dump.rdb",
        "save 3600 1 300 100 60 10000",
        "stop-writes-on-bgsave-error yes",
        "rdbcompression yes",
        "rdbchecksum yes",
        "appendonly yes",
        'appendfilename "appendonly.aof"',
        'appenddirname "appendonlydir"',
        "appendfsync everysec",
        "aof-use-rdb-preamble yes",
    ]


def test_redis_conf_without_aof_or_snapshots():
    lines = directives(render_conf(appendonly=False, save=[], bind=["10.0.0.5"], maxmemory_policy="noeviction"))
    assert "appendonly no" in lines
    assert 'save ""' in lines  # an empty rule list would otherwise keep Redis's built-in snapshots
    assert "bind 10.0.0.5" in lines
    assert "maxmemory-policy noeviction" in lines


def test_redis_conf_is_the_same_every_time():
    assert render_conf() == render_conf()


def test_redis_conf_template_variables():
    # Exactly the keyword arguments groundwork/components/redis.py passes.
    source = Path(template("etc/redis/redis.conf")).read_text()
    assert jinja2.meta.find_undeclared_variables(jinja2.Environment().parse(source)) == CONF_VARIABLES


def test_redis_conf_missing_variable_is_an_error():
    with pytest.raises(jinja2.UndefinedError):
        get_template(template("etc/redis/redis.conf")).render({})


# --- users.acl ----------------------------------------------------------------------------


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_password_hash_is_redis_sha256_hex():
    assert password_hash("foobar") == "c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2"


def test_users_acl_without_admin():
    assert users_acl(redis()) == (
        "user default off resetpass resetkeys resetchannels -@all\n"
        f"user app on #{sha256(APP_PASSWORD)} ~* &* +@all -@admin -@dangerous\n"
    )


def test_users_acl_with_admin_and_own_app_rules():
    s = redis(redis_admin_password=ADMIN_PASSWORD, redis_app_user="web", redis_app_acl="~cache:* +@read +@write -@dangerous")
    assert users_acl(s) == (
        "user default off resetpass resetkeys resetchannels -@all\n"
        f"user web on #{sha256(APP_PASSWORD)} ~cache:* +@read +@write -@dangerous\n"
        f"user admin on #{sha256(ADMIN_PASSWORD)} ~* &* +@all\n"
    )


def test_users_acl_holds_no_plaintext_password_and_no_comment():
    text = users_acl(redis(redis_admin_password=ADMIN_PASSWORD))
    assert APP_PASSWORD not in text and ADMIN_PASSWORD not in text
    # Redis refuses to start on any line of an aclfile that is not a `user` line.
    assert all(line.startswith("user ") for line in text.splitlines())


def test_users_acl_changes_only_with_the_password():
    assert users_acl(redis()) == users_acl(redis())
    assert users_acl(redis()) != users_acl(redis(redis_app_password="another-app-password-1234"))
