"""The base component's security baseline without a host: settings, the swap
decision, the sshd and sudoers drop-ins as rendered, root login and SSH ports."""

from __future__ import annotations

import pytest
from pyinfra.api.util import get_template

from groundwork.components.base.deploy import (
    AIDE_PACKAGES,
    FAIL2BAN_PACKAGES,
    HARDENING_PACKAGES,
    NET_SYSCTLS,
    base_packages,
    sshd_ports,
)
from groundwork.components.base.settings import BaseSettings, swap_size_bytes
from groundwork.paths import template
from groundwork.settings import SettingsError, build

MIB = 1024 * 1024
GIB = 1024 * MIB
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyForUnitTests ops@example"
ADMIN = {"base_admin_users": [{"name": "ops", "ssh_keys": [KEY]}]}


def base(**data) -> BaseSettings:
    return build(BaseSettings, data, "web1")


def problems_of(**data) -> list[str]:
    with pytest.raises(SettingsError) as info:
        base(**data)
    return info.value.problems


# --- swap ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("memory", "existing", "expected"), [
    (1 * GIB, 0, 1 * GIB),        # small host: as much as RAM
    (3 * GIB, 0, 2 * GIB),        # up to 2 GiB
    (4 * GIB, 0, 0),              # 4 GiB and more: none
    (24 * GIB, 0, 0),             # the lab host
    (1 * GIB, 512 * MIB, 0),      # swap there already
    (1000 * MIB + 123, 0, 1000 * MIB),  # whole MiB
])
def test_auto_swap_only_on_small_hosts_without_swap(memory, existing, expected):
    assert swap_size_bytes("auto", None, memory, existing) == expected


def test_swap_on_and_off_and_a_fixed_size():
    assert swap_size_bytes("off", None, 1 * GIB, 0) == 0
    assert swap_size_bytes("on", None, 24 * GIB, 0) == 2 * GIB
    assert swap_size_bytes("auto", 512, 1 * GIB, 0) == 512 * MIB


# --- SSH -----------------------------------------------------------------------------------------


def test_root_login_goes_off_only_with_an_admin_and_a_non_root_connection():
    assert base().permit_root_login(connects_as_root=False) == "prohibit-password"
    assert base(**ADMIN).permit_root_login(connects_as_root=True) == "prohibit-password"
    assert base(**ADMIN).permit_root_login(connects_as_root=False) == "no"
    assert base(**ADMIN, base_ssh_permit_root_login="prohibit-password").permit_root_login(False) == "prohibit-password"


def test_root_login_no_without_an_admin_is_refused():
    assert problems_of(base_ssh_permit_root_login="no") == [
        "host web1: base_ssh_permit_root_login: expected 'auto' or 'prohibit-password' while no admin user "
        "with ssh_keys is set, got 'no' (that would lock everyone out)"
    ]


def test_ssh_limits_are_bounded():
    assert problems_of(base_ssh_max_auth_tries=6, base_ssh_login_grace_time=120) == [
        "host web1: base_ssh_login_grace_time: expected 1 to 60 seconds, got 120",
        "host web1: base_ssh_max_auth_tries: expected 1 to 4 attempts, got 6",
    ]


def test_admin_users_are_checked():
    assert problems_of(base_admin_users=[{"name": "root"}, {"name": "ops", "ssh_keys": ["not a key"]}]) == [
        "host web1: base_admin_users[0].name: expected a user other than 'root', got 'root'",
        "host web1: base_admin_users[1].ssh_keys: expected OpenSSH public keys like 'ssh-ed25519 AAAA... comment', got 'not a key'",
    ]


def test_sshd_listens_on_both_ports_until_the_inventory_moves():
    assert sshd_ports(base(), 22) == [22]
    assert sshd_ports(base(base_ssh_port=2222), 22) == [2222, 22]
    assert sshd_ports(base(base_ssh_port=2222), 2222) == [2222]


def render(path: str, **data) -> str:
    return get_template(template(path)).render(**data)


def sshd_conf(**overrides) -> list[str]:
    data = dict(ports=[22], permit_root_login="no", max_auth_tries=3, login_grace_time=30,
                client_alive_interval=300, client_alive_count_max=2, allow_forwarding=False)
    data.update(overrides)
    return render("etc/ssh/sshd_config.d/00-groundwork.conf", **data).splitlines()


def test_sshd_drop_in_is_key_only_and_closed():
    lines = sshd_conf()
    for line in ["Port 22", "PermitRootLogin no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
                 "AuthenticationMethods publickey", "MaxAuthTries 3", "LoginGraceTime 30", "ClientAliveInterval 300",
                 "AllowTcpForwarding no", "AllowAgentForwarding no", "X11Forwarding no"]:
        assert line in lines
    assert [l for l in sshd_conf(ports=[2222, 22]) if l.startswith("Port ")] == ["Port 2222", "Port 22"]
    assert "AllowTcpForwarding yes" in sshd_conf(allow_forwarding=True)


def test_sudoers_drop_in_has_use_pty_a_log_and_the_admins():
    lines = render("etc/sudoers.d/groundwork", log="/var/log/sudo.log", users=["ops"]).splitlines()
    assert "Defaults use_pty" in lines
    assert 'Defaults logfile="/var/log/sudo.log"' in lines
    assert "ops ALL=(ALL:ALL) NOPASSWD: ALL" in lines


def test_unattended_reboot_is_off_by_default():
    s = base()
    text = render("etc/apt/apt.conf.d/52groundwork-unattended-upgrades", reboot=s.unattended_reboot,
                  reboot_time=s.unattended_reboot_time)
    assert 'Unattended-Upgrade::Automatic-Reboot "false";' in text
    assert 'Unattended-Upgrade::Automatic-Reboot-Time "03:30";' in text


def test_sysctls_leave_forwarding_and_log_martians_alone():
    # ip_forward belongs to whoever routes (containers, VPNs); ufw owns log_martians.
    assert not any("forwarding" in k or "ip_forward" in k or "log_martians" in k for k in NET_SYSCTLS)


# --- hardening (lynis) ---------------------------------------------------------------------------


def test_hardening_defaults():
    settings = base()
    assert settings.hardening and settings.file_integrity and not settings.core_dumps
    assert settings.disabled_kernel_modules == ("dccp", "sctp", "rds", "tipc", "usb-storage", "firewire-core")
    assert (settings.password_max_days, settings.password_min_days, settings.password_warn_days) == (365, 1, 14)
    assert settings.shell_umask == "027" and settings.shell_timeout == 900


def test_hardening_settings_are_checked():
    assert any("base_login_banner" in p for p in problems_of(base_login_banner="Authorized only \\S"))
    assert any("base_disabled_kernel_modules" in p for p in problems_of(base_disabled_kernel_modules=["usb storage"]))
    assert any("base_shell_umask" in p for p in problems_of(base_shell_umask="22"))


def test_module_blacklist_blacklists_and_refuses_each_module():
    text = get_template(template("etc/modprobe.d/groundwork-blacklist.conf")).render(modules=["dccp", "usb-storage"])
    assert "blacklist dccp\ninstall dccp /bin/false\n" in text
    assert "blacklist usb-storage\ninstall usb-storage /bin/false\n" in text


def test_banner_has_the_words_lynis_counts():
    text = get_template(template("etc/issue")).render(banner=base().login_banner).lower()
    words = ["access", "authori", "monitor", "prohibited", "criminal", "law", "consent", "private"]
    assert sum(w in text for w in words) >= 5


def test_base_packages_follow_the_switches():
    everything = base_packages(base())
    assert {"sudo", "unattended-upgrades", "systemd-timesyncd", *FAIL2BAN_PACKAGES, *HARDENING_PACKAGES,
            *AIDE_PACKAGES} <= set(everything)
    bare = set(base_packages(base(base_unattended_upgrades=False, base_fail2ban=False, base_time_sync=False,
                                  base_hardening=False, base_extra_packages=["htop"])))
    assert bare == {*base().packages, "htop"}
    assert not set(AIDE_PACKAGES) & set(base_packages(base(base_file_integrity=False)))
