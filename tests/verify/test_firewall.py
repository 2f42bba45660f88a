"""Firewall, verified on any inventory: pytest tests/verify --inventory FILE"""

import pytest


def _managed(settings):
    if not settings.firewall.enabled:
        pytest.skip("firewall_enabled is false for this host")


def test_ufw_is_active_with_default_deny_incoming(host, settings):
    _managed(settings)
    out = host.check_output("ufw status verbose")
    assert "Status: active" in out
    assert f"Default: {settings.firewall.default_incoming} (incoming), {settings.firewall.default_outgoing} (outgoing)" in out


def test_ssh_port_is_open_in_ufw(host, settings):
    _managed(settings)
    port = settings.base.ssh_port or int(host.check_output("sshd -T | awk '/^port /{print $2; exit}'"))
    assert f"{port}/tcp" in host.check_output("ufw status") 


def test_every_groundwork_rule_carries_its_comment(host, settings):
    _managed(settings)
    rules = host.check_output("grep '^### tuple ###' /etc/ufw/user.rules || true").splitlines()
    assert rules and any("comment=67726f756e64776f726b3a" in r for r in rules)  # hex of "groundwork:"
