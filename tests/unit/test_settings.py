from dataclasses import FrozenInstanceError, dataclass
from typing import ClassVar, Literal

import pytest
from pyinfra.api.exceptions import PyinfraError

from groundwork.components import SETTINGS_CLASSES
from groundwork.components.base.settings import BaseSettings
from groundwork.settings import (
    ComponentSettings,
    SettingsError,
    build,
    describe,
    redacted,
    setting,
    validate_host,
)

# Test-only components. Module level, so get_type_hints can resolve them.


@dataclass(frozen=True)
class User:
    name: str = setting(doc="Login name.")
    shell: str = setting("/bin/bash", doc="Login shell.")
    groups: list[str] = setting(default_factory=list, doc="Supplementary groups.")


@dataclass(frozen=True)
class DemoSettings(ComponentSettings):
    prefix: ClassVar[str] = "demo"

    admin_email: str = setting(doc="Address that receives alerts.")
    mode: Literal["fast", "safe"] = setting("safe", doc="How careful to be.")
    nickname: str | None = setting(None, doc="Optional display name.")
    workers: int = setting(2, doc="Worker processes.")
    ratio: float = setting(0.5, doc="Share of memory to use.")
    debug: bool = setting(False, doc="Verbose logging.")
    users: list[User] = setting(default_factory=list, doc="Accounts to create.")
    sysctl: dict[str, int] = setting(default_factory=dict, doc="Kernel parameters.")


@dataclass(frozen=True)
class RedisLike(ComponentSettings):
    prefix: ClassVar[str] = "redis"

    password: str = setting(doc="Password clients authenticate with.", secret=True)
    port: int = setting(6379, doc="TCP port.")


@dataclass(frozen=True)
class App(ComponentSettings):
    prefix: ClassVar[str] = "app"

    port: int = setting(8000, doc="Port of the app.")
    x_mode: str = setting("on", doc="A field that looks like it belongs to app_x.")


@dataclass(frozen=True)
class AppX(ComponentSettings):
    prefix: ClassVar[str] = "app_x"

    port: int = setting(9000, doc="Port of app_x.")


DEMO = {"demo_admin_email": "ops@example.com"}


def problems_of(cls, data, host="web1"):
    with pytest.raises(SettingsError) as info:
        build(cls, data, host)
    return info.value.problems


def problem_of(cls, data, host="web1"):
    (problem,) = problems_of(cls, data, host)
    return problem


# --- defaults and conversion ------------------------------------------------------


def test_base_defaults():
    s = build(BaseSettings, {}, "web1")
    assert s.hostname is None
    assert s.timezone == "UTC"
    assert s.locale == "C.UTF-8"
    assert "ca-certificates" in s.packages and "python3" in s.packages
    assert s.extra_packages == ()
    assert s.apt_cache_max_age == 86400
    assert s.journald_max_use == "500M"


def test_base_reads_prefixed_keys_and_ignores_others():
    s = build(
        BaseSettings,
        {"base_hostname": "web1.example.com", "base_timezone": "Europe/Berlin", "ssh_user": "root"},
        "web1",
    )
    assert s.hostname == "web1.example.com"
    assert s.timezone == "Europe/Berlin"


def test_demo_defaults():
    s = build(DemoSettings, DEMO, "web1")
    assert s == DemoSettings(admin_email="ops@example.com", users=(), sysctl={})
    assert (s.mode, s.nickname, s.workers, s.ratio, s.debug) == ("safe", None, 2, 0.5, False)


def test_lists_become_tuples_and_object_is_frozen():
    s = build(BaseSettings, {"base_extra_packages": ["git", "htop"]}, "web1")
    assert s.extra_packages == ("git", "htop")
    assert isinstance(s.packages, tuple)
    hash(s)
    with pytest.raises(FrozenInstanceError):
        s.timezone = "Europe/Berlin"


def test_nested_list_of_dataclasses():
    s = build(DemoSettings, {**DEMO, "demo_users": [{"name": "ann", "groups": ["adm"]}, {"name": "bob"}]}, "web1")
    assert s.users == (User(name="ann", groups=("adm",)), User(name="bob", groups=()))
    assert s.users[0].shell == "/bin/bash"


def test_int_accepted_as_float():
    s = build(DemoSettings, {**DEMO, "demo_ratio": 1}, "web1")
    assert s.ratio == 1.0 and isinstance(s.ratio, float)


def test_dict_of_int():
    s = build(DemoSettings, {**DEMO, "demo_sysctl": {"vm.swappiness": 10}}, "web1")
    assert s.sysctl == {"vm.swappiness": 10}


def test_optional_accepts_none_and_value():
    assert build(DemoSettings, {**DEMO, "demo_nickname": None}, "web1").nickname is None
    assert build(DemoSettings, {**DEMO, "demo_nickname": "ops"}, "web1").nickname == "ops"


def test_literal_accepts_choice():
    assert build(DemoSettings, {**DEMO, "demo_mode": "fast"}, "web1").mode == "fast"


# --- type errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("base_timezone", 3, "host web1: base_timezone: expected a string, got int (3)"),
        ("base_apt_cache_max_age", "1d", "host web1: base_apt_cache_max_age: expected an integer, got str ('1d')"),
        ("base_extra_packages", "git", "host web1: base_extra_packages: expected a list, got str ('git')"),
        ("base_extra_packages", ["git", 1], "host web1: base_extra_packages[1]: expected a string, got int (1)"),
        ("base_hostname", 5, "host web1: base_hostname: expected a string or null, got int (5)"),
        ("base_timezone", None, "host web1: base_timezone: expected a string, got null"),
    ],
)
def test_base_type_errors(key, value, message):
    assert problem_of(BaseSettings, {key: value}) == message


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("demo_debug", "yes", "host web1: demo_debug: expected a boolean, got str ('yes')"),
        ("demo_ratio", "half", "host web1: demo_ratio: expected a number, got str ('half')"),
        ("demo_sysctl", ["vm.swappiness"], "host web1: demo_sysctl: expected a mapping, got list (['vm.swappiness'])"),
        ("demo_mode", "slow", "host web1: demo_mode: expected one of 'fast', 'safe', got str ('slow')"),
        ("demo_nickname", 1.5, "host web1: demo_nickname: expected a string or null, got float (1.5)"),
        ("demo_users", [{"name": "a"}, "b"], "host web1: demo_users[1]: expected a mapping, got str ('b')"),
    ],
)
def test_demo_type_errors(key, value, message):
    assert problem_of(DemoSettings, {**DEMO, key: value}) == message


def test_bool_not_accepted_as_int_or_float():
    assert problem_of(DemoSettings, {**DEMO, "demo_workers": True}) == (
        "host web1: demo_workers: expected an integer, got bool (True)"
    )
    assert problem_of(DemoSettings, {**DEMO, "demo_ratio": False}) == (
        "host web1: demo_ratio: expected a number, got bool (False)"
    )


def test_long_value_is_truncated():
    assert problem_of(BaseSettings, {"base_timezone": list(range(30))}) == (
        "host web1: base_timezone: expected a string, got list ([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11...)"
    )


def test_dict_value_error_uses_bracketed_key():
    assert problem_of(DemoSettings, {**DEMO, "demo_sysctl": {"vm.swappiness": "10"}}) == (
        "host web1: demo_sysctl['vm.swappiness']: expected an integer, got str ('10')"
    )


def test_nested_type_error_and_unknown_nested_key():
    data = {**DEMO, "demo_users": [{"name": "ann", "shel": "/bin/sh"}, {"name": [1, 2]}]}
    assert problems_of(DemoSettings, data) == [
        "host web1: demo_users[0].shel: unknown setting (did you mean shell?)",
        "host web1: demo_users[1].name: expected a string, got list ([1, 2])",
    ]


def test_nested_required_field():
    assert problem_of(DemoSettings, {**DEMO, "demo_users": [{"shell": "/bin/sh"}]}) == (
        "host web1: demo_users[0].name: required, not set (Login name.)"
    )


def test_missing_required():
    assert problem_of(DemoSettings, {}, host="db1") == (
        "host db1: demo_admin_email: required, not set (Address that receives alerts.)"
    )


def test_secret_value_hidden():
    assert problem_of(RedisLike, {"redis_password": 1234}) == (
        "host web1: redis_password: expected a string, got int (value hidden)"
    )


# --- field checks in BaseSettings ---------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("base_hostname", "x_y", "expected a hostname (letters, digits, hyphens, dots), got 'x_y'"),
        ("base_hostname", "-web", "expected a hostname (letters, digits, hyphens, dots), got '-web'"),
        ("base_timezone", "x y", "expected an IANA time zone name like 'Europe/Berlin', got 'x y'"),
        ("base_locale", "en_US.ISO-8859-1", "expected a UTF-8 locale like 'en_US.UTF-8', got 'en_US.ISO-8859-1'"),
        ("base_apt_cache_max_age", -1, "expected a number of seconds >= 0, got -1"),
        (
            "base_journald_max_use",
            "1 GB",
            "expected a size like '500M' (digits, then optionally K, M, G or T), got '1 GB'",
        ),
    ],
)
def test_base_checks(key, value, message):
    assert problem_of(BaseSettings, {key: value}) == f"host web1: {key}: {message}"


def test_base_checks_accept_good_values():
    s = build(
        BaseSettings,
        {
            "base_hostname": "db-1",
            "base_timezone": "America/Argentina/Buenos_Aires",
            "base_locale": "en_US.UTF-8",
            "base_apt_cache_max_age": 0,
            "base_journald_max_use": "2G",
        },
        "web1",
    )
    assert (s.hostname, s.locale, s.apt_cache_max_age) == ("db-1", "en_US.UTF-8", 0)
    assert build(BaseSettings, {"base_locale": "C.utf8"}, "web1").locale == "C.utf8"


# --- validate_host ---------------------------------------------------------------------------


def test_validate_host_returns_settings_by_prefix():
    result = validate_host("web1", {**DEMO, "ssh_user": "root", "_sudo": True, "myapp_x": 1}, [BaseSettings, DemoSettings])
    assert set(result) == {"base", "demo"}
    assert result["base"] == build(BaseSettings, {}, "web1")
    assert result["demo"].admin_email == "ops@example.com"


def test_components_registry():
    assert BaseSettings in SETTINGS_CLASSES
    assert validate_host("web1", {}, SETTINGS_CLASSES)["base"].timezone == "UTC"


def test_unknown_key_with_suggestion():
    with pytest.raises(SettingsError) as info:
        validate_host("web1", {"base_timezon": "UTC"}, SETTINGS_CLASSES)
    assert info.value.problems == ["host web1: base_timezon: unknown setting (did you mean base_timezone?)"]


def test_unknown_key_without_suggestion():
    with pytest.raises(SettingsError) as info:
        validate_host("web1", {"base_frobnicate": 1}, SETTINGS_CLASSES)
    assert info.value.problems == ["host web1: base_frobnicate: unknown setting"]


def test_longest_prefix_owns_unknown_key():
    with pytest.raises(SettingsError) as info:
        validate_host("web1", {"app_x_prot": 1, "app_prot": 2}, [App, AppX])
    assert info.value.problems == [
        "host web1: app_prot: unknown setting (did you mean app_port?)",
        "host web1: app_x_prot: unknown setting (did you mean app_x_port?)",
    ]


def test_key_known_to_shorter_prefix_is_not_unknown():
    result = validate_host("web1", {"app_x_port": 1, "app_x_mode": "off", "app_port": 2}, [App, AppX])
    assert (result["app"].port, result["app"].x_mode, result["app_x"].port) == (2, "off", 1)


def test_all_problems_in_one_error_sorted():
    data = {
        "demo_workers": "4",
        "demo_mode": "slow",
        "demo_users": [{"name": "a"}] * 10 + [{"name": 1}],
        "demo_users_x": 1,
        "base_timezone": 3,
        "redis_port": "x",
    }
    users = [{"name": "a"}] * 2 + [{"name": 2}]
    data["demo_users"] = [*users, *data["demo_users"]]
    with pytest.raises(SettingsError) as info:
        validate_host("web1", data, [DemoSettings, BaseSettings, RedisLike])
    expected = [
        "host web1: base_timezone: expected a string, got int (3)",
        "host web1: demo_admin_email: required, not set (Address that receives alerts.)",
        "host web1: demo_mode: expected one of 'fast', 'safe', got str ('slow')",
        "host web1: demo_users[2].name: expected a string, got int (2)",
        "host web1: demo_users[13].name: expected a string, got int (1)",
        "host web1: demo_users_x: unknown setting (did you mean demo_users?)",
        "host web1: demo_workers: expected an integer, got str ('4')",
        "host web1: redis_password: required, not set (Password clients authenticate with.)",
        "host web1: redis_port: expected an integer, got str ('x')",
    ]
    assert info.value.problems == expected
    assert str(info.value) == "invalid settings:\n  " + "\n  ".join(expected)
    assert isinstance(info.value, PyinfraError)


# --- declaration errors, describe, redacted ---------------------------------------------------------


def test_setting_requires_doc():
    with pytest.raises(TypeError):
        setting("x", doc="")


def test_unsupported_type_is_a_programming_error():
    @dataclass(frozen=True)
    class Bad(ComponentSettings):
        prefix: ClassVar[str] = "bad"
        value: set = setting(default_factory=set, doc="Not supported.")

    with pytest.raises(TypeError, match="unsupported settings type"):
        build(Bad, {}, "web1")


def test_describe_base():
    rows = describe(BaseSettings)
    assert [row[0] for row in rows] == [
        "base_hostname",
        "base_timezone",
        "base_locale",
        "base_packages",
        "base_extra_packages",
        "base_apt_cache_max_age",
        "base_journald_max_use",
        "base_admin_users",
        "base_admin_users[].name",
        "base_admin_users[].ssh_keys",
        "base_admin_users[].sudo",
        "base_ssh_port",
        "base_ssh_permit_root_login",
        "base_ssh_allow_forwarding",
        "base_ssh_max_auth_tries",
        "base_ssh_login_grace_time",
        "base_ssh_client_alive_interval",
        "base_ssh_client_alive_count_max",
        "base_unattended_upgrades",
        "base_unattended_reboot",
        "base_unattended_reboot_time",
        "base_fail2ban",
        "base_fail2ban_maxretry",
        "base_fail2ban_findtime",
        "base_fail2ban_bantime",
        "base_swap",
        "base_swap_size_mb",
        "base_time_sync",
        "base_sysctl_hardening",
        "base_sudo_log",
        "base_hardening",
        "base_login_banner",
        "base_password_max_days",
        "base_password_min_days",
        "base_password_warn_days",
        "base_password_hash_rounds",
        "base_disabled_kernel_modules",
        "base_file_integrity",
        "base_shell_umask",
        "base_shell_timeout",
        "base_core_dumps",
    ]
    assert rows[0] == (
        "base_hostname",
        "a string or null",
        "None",
        "Hostname to set on the host; null leaves the current one.",
    )
    assert rows[1][:3] == ("base_timezone", "a string", "'UTC'")
    assert rows[3][1] == "a list of strings"
    assert rows[3][2].startswith("['ca-certificates', ")
    assert rows[4][1:3] == ("a list of strings", "[]")
    assert rows[5][1:3] == ("an integer", "86400")
    assert all(row[3] for row in rows)


def test_describe_required_literal_and_nested():
    rows = {row[0]: row[1:] for row in describe(DemoSettings)}
    assert rows["demo_admin_email"] == ("a string", "required", "Address that receives alerts.")
    assert rows["demo_mode"][:2] == ("one of 'fast', 'safe'", "'safe'")
    assert rows["demo_users"][:2] == ("a list of mappings", "[]")
    assert rows["demo_users[].name"] == ("a string", "required", "Login name.")
    assert rows["demo_sysctl"][:2] == ("a mapping of strings to integers", "{}")


def test_redacted():
    assert redacted(build(RedisLike, {"redis_password": "hunter2"}, "web1")) == {
        "password": "********",
        "port": 6379,
    }
    demo = build(DemoSettings, {**DEMO, "demo_users": [{"name": "ann"}]}, "web1")
    assert redacted(demo)["users"] == [{"name": "ann", "shell": "/bin/bash", "groups": []}]
