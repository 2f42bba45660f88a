"""The verify tests' inventory bridge: a pyinfra inventory read as `pyinfra` reads it.

Every test builds its own throwaway project (inventories/ + group_data/) under
tmp_path; no host is contacted.

pyinfra caches compiled inventory/group-data code by file name for the whole
process, so tests load by absolute path (unique per tmp_path); the one test that
loads by a relative path uses a name no other test uses.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from groundwork.components import SETTINGS_CLASSES
from groundwork.components.base.settings import ESSENTIAL_PACKAGES, BaseSettings
from groundwork.fleet import FleetHost
from groundwork.settings import SettingsError
from groundwork.testing.inventory import load_inventory, ssh_config_for

INVENTORY = """\
web = [
    ("web1", {
        "ssh_hostname": "192.0.2.11",
        "ssh_user": "deploy",
        "ssh_port": 2222,
        "ssh_key": "~/.ssh/id_web",
        "_sudo": True,
        "base_journald_max_use": "200M",
    }),
]
db = [
    ("db1", {"ssh_hostname": "192.0.2.12", "ssh_user": "root", "base_hostname": "db1"}),
]
"""

ALL_DATA = """\
import os  # imported names are not group data

base_locale = "en_US.UTF-8"
base_timezone = "Etc/UTC"
base_journald_max_use = "1G"
"""

WEB1_DATA = {
    "base_locale": "en_US.UTF-8",
    "base_timezone": "Etc/UTC",
    "base_journald_max_use": "200M",
    "ssh_hostname": "192.0.2.11",
    "ssh_user": "deploy",
    "ssh_port": 2222,
    "ssh_key": "~/.ssh/id_web",
    "_sudo": True,
}
DB1_DATA = {
    "base_locale": "en_US.UTF-8",
    "base_timezone": "Europe/Berlin",
    "base_journald_max_use": "1G",
    "ssh_hostname": "192.0.2.12",
    "ssh_user": "root",
    "base_hostname": "db1",
}


def make_project(root: Path, db_data: str = 'base_timezone = "Europe/Berlin"\n', name: str = "test") -> Path:
    (root / "inventories").mkdir(parents=True)
    (root / "group_data").mkdir()
    (root / "inventories" / f"{name}.py").write_text(INVENTORY)
    (root / "group_data" / "all.py").write_text(ALL_DATA)
    (root / "group_data" / "db.py").write_text(db_data)
    return root


@pytest.fixture
def project(tmp_path) -> Path:
    return make_project(tmp_path / "project")


@pytest.fixture
def no_dns(monkeypatch):
    """pyinfra tries an unknown inventory name as a host name; never let it reach DNS."""
    import pyinfra_cli.inventory

    monkeypatch.setattr(pyinfra_cli.inventory, "_resolves_to_host", lambda name: False)


# --- load_inventory -------------------------------------------------------------------------


def test_names_groups_and_merged_data(project):
    hosts = load_inventory(project / "inventories" / "test.py", cwd=project)

    assert [h.name for h in hosts] == ["web1", "db1"]
    web1, db1 = hosts
    # The inventory file's name is a group too, as in pyinfra.
    assert web1.groups == ("web", "test")
    assert db1.groups == ("db", "test")
    # Host data beats group data beats all.py; imports in group data are dropped.
    assert web1.data == WEB1_DATA
    assert db1.data == DB1_DATA


def test_settings_are_validated_per_host(project):
    web1, db1 = load_inventory(project / "inventories" / "test.py", cwd=project)

    assert web1.settings.base == BaseSettings(
        hostname=None,
        timezone="Etc/UTC",
        locale="en_US.UTF-8",
        packages=tuple(ESSENTIAL_PACKAGES),
        extra_packages=(),
        apt_cache_max_age=86400,
        journald_max_use="200M",
        admin_users=(),
    )
    assert db1.settings.base.timezone == "Europe/Berlin"
    assert db1.settings.base.hostname == "db1"
    assert db1.settings.base.journald_max_use == "1G"
    assert isinstance(db1.settings, SimpleNamespace)
    assert sorted(vars(db1.settings)) == sorted(cls.prefix for cls in SETTINGS_CLASSES)


def test_relative_path_from_the_project_dir(tmp_path, monkeypatch):
    # How the pytest plugin calls it: a path relative to the working directory, no cwd.
    root = make_project(tmp_path / "project", name="bridge_relative")
    monkeypatch.chdir(root)
    hosts = load_inventory("inventories/bridge_relative.py")
    assert [(h.name, h.groups, h.settings.base.timezone) for h in hosts] == [
        ("web1", ("web", "bridge_relative"), "Etc/UTC"),
        ("db1", ("db", "bridge_relative"), "Europe/Berlin"),
    ]


def test_group_data_comes_from_cwd(tmp_path):
    # The inventory lives elsewhere; group_data/ is read from cwd (and the inventory's dir).
    project = make_project(tmp_path / "project")
    other = tmp_path / "other"
    other.mkdir()
    (other / "group_data").mkdir()
    (other / "group_data" / "db.py").write_text('base_timezone = "America/Chicago"\n')

    _, db1 = load_inventory(project / "inventories" / "test.py", cwd=other)
    assert db1.settings.base.timezone == "America/Chicago"
    assert db1.settings.base.locale == "C.UTF-8"  # project's all.py was not read


def test_typo_in_group_data_names_the_host_and_the_fix(tmp_path):
    project = make_project(tmp_path / "project", db_data='base_timezon = "Europe/Berlin"\n')
    with pytest.raises(SettingsError) as exc:
        load_inventory(project / "inventories" / "test.py", cwd=project)
    assert exc.value.problems == [
        "host db1: base_timezon: unknown setting (did you mean base_timezone?)"
    ]
    assert str(exc.value) == (
        "invalid settings:\n  host db1: base_timezon: unknown setting (did you mean base_timezone?)"
    )


def test_bad_value_in_group_data_is_reported(tmp_path):
    project = make_project(tmp_path / "project", db_data='base_timezone = "Europe Berlin"\n')
    with pytest.raises(SettingsError) as exc:
        load_inventory(project / "inventories" / "test.py", cwd=project)
    assert exc.value.problems == [
        "host db1: base_timezone: expected an IANA time zone name like 'Europe/Berlin', "
        "got 'Europe Berlin'"
    ]


def test_missing_inventory_file_is_an_error(tmp_path, no_dns):
    missing = tmp_path / "inventories" / "nope.py"
    with pytest.raises(Exception, match="nope.py"):
        load_inventory(missing, cwd=tmp_path)


def test_relative_path_is_relative_to_cwd(tmp_path, monkeypatch, no_dns):
    project = make_project(tmp_path / "project", name="bridge_cwd_relative")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    hosts = load_inventory("inventories/bridge_cwd_relative.py", cwd=project)
    assert [h.name for h in hosts] == ["web1", "db1"]


# --- FleetHost.sudo -------------------------------------------------------------------------


def _host(name: str, **data) -> FleetHost:
    return FleetHost(name=name, groups=("all",), roles=frozenset(), data=data, settings=SimpleNamespace())


@pytest.mark.parametrize(
    "data, sudo",
    [({"_sudo": True}, True), ({"_sudo": False}, False), ({}, False), ({"_sudo": None}, False)],
)
def test_sudo_follows_pyinfra_sudo(data, sudo):
    assert _host("h1", **data).sudo is sudo


def test_sudo_from_a_loaded_inventory(project):
    web1, db1 = load_inventory(project / "inventories" / "test.py", cwd=project)
    assert web1.sudo is True
    assert db1.sudo is False


# --- ssh_config_for ---------------------------------------------------------------------------

TAIL = "  BatchMode yes\n  ConnectTimeout 10\n  LogLevel ERROR\n"


def test_ssh_config_with_every_field(monkeypatch):
    monkeypatch.setenv("HOME", "/home/tester")
    web1 = _host(
        "web1",
        ssh_hostname="192.0.2.11",
        ssh_user="deploy",
        ssh_port=2222,
        ssh_key="~/.ssh/id_web",
        ssh_known_hosts_file="/srv/lab keys/known_hosts",
        ssh_strict_host_key_checking="yes",
    )
    assert ssh_config_for([web1]) == (
        "Host web1\n"
        "  HostName 192.0.2.11\n"
        "  User deploy\n"
        "  Port 2222\n"
        "  IdentityFile /home/tester/.ssh/id_web\n"
        "  IdentitiesOnly yes\n"
        "  UserKnownHostsFile '/srv/lab keys/known_hosts'\n"
        "  StrictHostKeyChecking yes\n" + TAIL
    )


def test_ssh_config_without_hostname_uses_the_name():
    assert ssh_config_for([_host("db1.example.org")]) == (
        "Host db1.example.org\n  HostName db1.example.org\n" + TAIL
    )


def test_ssh_config_quotes_a_key_path_with_spaces():
    text = ssh_config_for([_host("h1", ssh_key="/keys/my key")])
    assert text == (
        "Host h1\n  HostName h1\n  IdentityFile '/keys/my key'\n  IdentitiesOnly yes\n" + TAIL
    )


def test_ssh_config_blocks_are_separated_by_a_blank_line():
    text = ssh_config_for([_host("a1", ssh_user="root"), _host("b1", ssh_port=22)])
    assert text == (
        "Host a1\n  HostName a1\n  User root\n" + TAIL
        + "\n"
        + "Host b1\n  HostName b1\n  Port 22\n" + TAIL
    )


def test_ssh_config_for_no_hosts_is_empty():
    assert ssh_config_for([]) == ""


def test_ssh_config_for_a_loaded_inventory(project, monkeypatch):
    monkeypatch.setenv("HOME", "/home/tester")
    hosts = load_inventory(project / "inventories" / "test.py", cwd=project)
    assert ssh_config_for(hosts) == (
        "Host web1\n  HostName 192.0.2.11\n  User deploy\n  Port 2222\n"
        "  IdentityFile /home/tester/.ssh/id_web\n  IdentitiesOnly yes\n" + TAIL
        + "\n"
        + "Host db1\n  HostName 192.0.2.12\n  User root\n" + TAIL
    )
