"""Base component, verified on any inventory: pytest tests/verify --inventory FILE"""

import pytest

from groundwork.components.base.deploy import NET_SYSCTLS


def _configured_hostname(settings) -> str:
    if settings.base.hostname is None:
        pytest.skip("base_hostname is not set for this host")
    return settings.base.hostname



def test_hostname_is_the_configured_one(host, settings):
    assert host.check_output("hostname") == _configured_hostname(settings).split(".")[0]


def test_hostname_resolves_from_etc_hosts(host, settings):
    # Without it every sudo waits for a DNS time-out.
    hostname = _configured_hostname(settings)
    assert host.check_output("getent hosts %s", hostname).split()[0] == "127.0.1.1"
    assert "127.0.1.1" in host.check_output("grep -E '\\s%s(\\s|$)' /etc/hosts", hostname)


def test_base_packages_are_installed(host, settings):
    missing = [p for p in (*settings.base.packages, *settings.base.extra_packages) if not host.package(p).is_installed]
    assert missing == []


def test_timezone_is_the_configured_one(host, settings):
    assert host.check_output("readlink /etc/localtime") == f"/usr/share/zoneinfo/{settings.base.timezone}"
    assert host.file("/etc/timezone").content_string.strip() == settings.base.timezone


def test_default_locale_is_the_configured_one(host, settings):
    env = host.check_output(". /etc/default/locale && echo $LANG")
    assert env == settings.base.locale


def test_journald_size_is_capped(host, settings):
    value = host.check_output("systemd-analyze cat-config systemd/journald.conf | grep -E '^SystemMaxUse=' | tail -1")
    assert value == f"SystemMaxUse={settings.base.journald_max_use}"


def test_journald_runs_with_the_current_config(host):
    journald = host.service("systemd-journald")
    assert journald.is_running
    assert not host.file("/var/lib/groundwork/pending/systemd-journald.restart").exists


def test_no_unit_has_failed(host):
    failed = host.check_output("systemctl --failed --no-legend --plain | awk '{print $1}'")
    assert failed == ""


def _net_sysctls_writable(host) -> bool:
    """False in a container that mounts /proc/sys read-only without a writable /proc/sys/net."""
    mounts = {fields[1]: fields[3].split(",") for fields in
              (line.split() for line in host.file("/proc/mounts").content_string.splitlines())}
    for mount in ("/proc/sys/net", "/proc/sys"):
        if mount in mounts:
            return "rw" in mounts[mount]
    return True


def test_network_sysctl_hardening_is_live(host, settings):
    if not settings.base.sysctl_hardening:
        pytest.skip("base_sysctl_hardening is off")
    if not _net_sysctls_writable(host):
        pytest.skip("/proc/sys/net is read-only here: the values apply at the next boot")
    output = host.check_output("sysctl " + " ".join(sorted(NET_SYSCTLS)))
    live = dict(line.split(" = ", 1) for line in output.splitlines())
    assert live == NET_SYSCTLS
