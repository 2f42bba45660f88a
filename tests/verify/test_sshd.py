"""SSH and sudo hardening, verified on any inventory: pytest tests/verify --inventory FILE"""

import pytest


def _sshd(host) -> dict[str, str]:
    out = host.check_output("sshd -T")
    return {k: v for k, _, v in (line.partition(" ") for line in out.splitlines())}


def test_sshd_is_key_only(host):
    conf = _sshd(host)
    assert conf["passwordauthentication"] == "no"
    assert conf["kbdinteractiveauthentication"] == "no"
    assert conf["permitrootlogin"] in ("no", "without-password")


def test_sshd_limits_are_the_configured_ones(host, settings):
    conf = _sshd(host)
    assert int(conf["maxauthtries"]) == settings.base.ssh_max_auth_tries <= 4
    assert int(conf["logingracetime"]) == settings.base.ssh_login_grace_time <= 60
    assert int(conf["clientaliveinterval"]) == settings.base.ssh_client_alive_interval


def test_forwarding_is_off_unless_enabled(host, settings):
    conf = _sshd(host)
    expected = "yes" if settings.base.ssh_allow_forwarding else "no"
    assert conf["allowtcpforwarding"] == expected and conf["x11forwarding"] == expected


def test_sshd_runs_a_config_that_passes_its_check(host):
    assert host.run("sshd -t").rc == 0
    assert not host.file("/var/lib/groundwork/pending/ssh.reload").exists


def test_sudoers_pass_visudo_and_use_a_pty_and_a_log(host, settings):
    assert host.run("visudo -c").rc == 0
    text = host.file("/etc/sudoers.d/groundwork").content_string
    assert "Defaults use_pty" in text and f'Defaults logfile="{settings.base.sudo_log}"' in text


def test_admin_users_exist_with_their_keys(host, settings):
    for user in settings.base.admin_users:
        keys = host.file(f"/home/{user.name}/.ssh/authorized_keys").content_string
        assert all(key in keys for key in user.ssh_keys)


def test_fail2ban_watches_sshd(host, settings):
    if not settings.base.fail2ban:
        pytest.skip("base_fail2ban is false for this host")
    assert host.service("fail2ban").is_running
    assert "Journal matches" in host.check_output("fail2ban-client status sshd")
