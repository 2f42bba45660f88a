"""The firewall without a host: ufw's files parsed
(groundwork.components.firewall.facts), the openings the components declare
(groundwork.component.HostRun.openings), ufw commands planned from facts, the
no-op case included (groundwork.components.firewall.operations), and its
settings (groundwork.components.firewall.settings)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pyinfra.api import OperationError

from groundwork.component import HostRun, Opening
from groundwork.components import RUN_ORDER, SETTINGS_CLASSES
from groundwork.components.firewall.facts import UfwRule, parse_tuple, parse_ufw
from groundwork.components.firewall.operations import (
    add_command,
    delete_command,
    plan,
    wanted_rules,
)
from groundwork.components.firewall.settings import FirewallSettings
from groundwork.fleet import Fleet
from groundwork.runner import build_fleet
from groundwork.settings import SettingsError, build

DEFAULTS = {"incoming": "deny", "outgoing": "allow", "routed": "deny"}
SSH = 'comment=67726f756e64776f726b3a20737368'  # "groundwork: ssh"


def ufw_files(rules: list[str], rules6: list[str] = (), enabled: bool = True, incoming="DROP") -> list[str]:
    return [
        "@@conf", f"ENABLED={'yes' if enabled else 'no'}", "LOGLEVEL=low",
        "@@default", "IPV6=yes", f'DEFAULT_INPUT_POLICY="{incoming}"', 'DEFAULT_OUTPUT_POLICY="ACCEPT"',
        'DEFAULT_FORWARD_POLICY="DROP"',
        "@@rules", "*filter", *rules, "COMMIT",
        "@@rules6", *rules6,
    ]


# --- the fact --------------------------------------------------------------------------------


def test_tuple_lines_parse_with_their_comment():
    rule = parse_tuple(f"### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in {SSH}")
    assert rule == UfwRule("allow", "tcp", "22", "any", "any", "any", "in", comment="groundwork: ssh")
    route = parse_tuple("### tuple ### route:allow tcp 80 10.1.0.0/16 any 0.0.0.0/0 in_eth0!out_eth1")
    assert (route.action, route.dst, route.direction, route.comment) == ("route:allow", "10.1.0.0/16", "in_eth0!out_eth1", "")


def test_v4_and_v6_halves_of_an_any_rule_are_one_rule():
    state = parse_ufw(ufw_files(
        [f"### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in {SSH}"],
        [f"### tuple ### allow tcp 22 ::/0 any ::/0 in {SSH}"],
    ))
    assert len(state["rules"]) == 1
    assert state["enabled"] is True
    assert state["defaults"] == {"incoming": "deny", "outgoing": "allow", "routed": "deny"}


def test_no_ufw_is_none():
    assert parse_ufw([]) is None


# --- the port contract -----------------------------------------------------------------------------


def openings_of(spec: str, *others: str, **data) -> list[Opening]:
    """Every opening the components declare on the host of `spec` ("name:group,group",
    address 10.0.0.1, host data `data`) in a fleet with `others` (10.0.0.2, ...)."""
    hosts = []
    for i, item in enumerate((spec, *others), start=1):
        name, _, groups = item.partition(":")
        hosts.append(SimpleNamespace(name=name, groups=[g for g in groups.split(",") if g],
                                     data={"ssh_hostname": f"10.0.0.{i}", **(data if i == 1 else {})}))
    fleet = build_fleet(hosts)
    return HostRun(fleet, fleet[hosts[0].name], RUN_ORDER).openings()


# A host that plays no role with ports of its own: only SSH and the firewall's own openings.
NO_PORTS = ("h:backup", "other:db,cache,app")


def test_single_host_opens_ssh_http_https_and_no_data_ports():
    result = openings_of("web1", ssh_port=22)
    assert [(o.port, o.sources, o.comment) for o in result] == [
        (22, ("any",), "ssh"), (80, ("any",), "http"), (443, ("any",), "https"),
    ]


def test_data_ports_open_only_to_the_other_app_and_worker_hosts():
    result = openings_of("db1:db,cache", "app1:app", "w1:worker", "web1:web", postgres_port=5433)
    assert Opening(5433, "tcp", ("10.0.0.2", "10.0.0.3"), "postgres") in result
    assert Opening(6379, "tcp", ("10.0.0.2", "10.0.0.3"), "redis") in result
    assert all(o.port not in (80, 443) for o in result)  # not a web host


def test_ssh_port_move_keeps_the_port_in_use_open():
    moving = openings_of(*NO_PORTS, base_ssh_port=2222, ssh_port=22)
    assert [o.port for o in moving] == [2222, 22]
    moved = openings_of(*NO_PORTS, base_ssh_port=2222, ssh_port=2222)
    assert [o.port for o in moved] == [2222]


def test_extra_openings_are_declared_too():
    extra = [{"port": 9100, "sources": ["10.0.0.0/24"], "comment": "node exporter"}]
    assert Opening(9100, "tcp", ("10.0.0.0/24",), "node exporter") in openings_of(
        *NO_PORTS, firewall_extra_openings=extra)


def test_host_address_prefers_the_private_address():
    def address(**data) -> str:
        return Fleet.from_inventory([SimpleNamespace(name="h1", groups=[], data=data)])["h1"].address

    assert address(private_address="10.0.0.5", ssh_hostname="203.0.113.5") == "10.0.0.5"
    assert address(ssh_hostname="203.0.113.5") == "203.0.113.5"
    assert address() == "h1"  # connected by inventory name


# --- planned commands ----------------------------------------------------------------------------

WEB = [Opening(22, comment="ssh"), Opening(80, comment="http"), Opening(443, comment="https")]


def test_fresh_ufw_gets_ssh_first_then_the_rest_then_enable():
    state = parse_ufw(ufw_files([], enabled=False))
    assert plan(state, WEB, DEFAULTS) == [
        "ufw allow in proto tcp from any to any port 22 comment 'groundwork: ssh'",
        "ufw allow in proto tcp from any to any port 80 comment 'groundwork: http'",
        "ufw allow in proto tcp from any to any port 443 comment 'groundwork: https'",
        "ufw --force enable",
    ]


def test_matching_state_plans_nothing():
    rules = [r for o in WEB for r in wanted_rules([o])]
    lines = [f"### tuple ### allow tcp {r.dport} 0.0.0.0/0 any 0.0.0.0/0 in comment={r.comment.encode().hex()}" for r in rules]
    assert plan(parse_ufw(ufw_files(lines)), WEB, DEFAULTS) == []


def test_undeclared_own_rules_go_and_unmanaged_ones_stay_unless_purged():
    lines = [
        f"### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in {SSH}",
        "### tuple ### allow tcp 5432 0.0.0.0/0 any 10.0.0.5 in comment=" + "groundwork: postgres".encode().hex(),
        "### tuple ### allow udp 8080 0.0.0.0/0 any 0.0.0.0/0 in",
    ]
    state = parse_ufw(ufw_files(lines))
    ssh_only = [Opening(22, comment="ssh")]
    assert plan(state, ssh_only, DEFAULTS) == ["ufw --force delete allow in proto tcp from 10.0.0.5 to any port 5432"]
    assert plan(state, ssh_only, DEFAULTS, purge_unmanaged=True) == [
        "ufw --force delete allow in proto tcp from 10.0.0.5 to any port 5432",
        "ufw --force delete allow in proto udp from any to any port 8080",
    ]


def test_a_changed_default_is_set_after_the_rules_are_added():
    state = parse_ufw(ufw_files([], incoming="ACCEPT"))
    assert plan(state, [Opening(22, comment="ssh")], DEFAULTS) == [
        "ufw allow in proto tcp from any to any port 22 comment 'groundwork: ssh'",
        "ufw default deny incoming",
    ]


def test_refuses_to_run_without_a_rule_for_the_ssh_port_in_use():
    with pytest.raises(OperationError, match=r"SSH port in use \(2222\)"):
        plan(parse_ufw(ufw_files([])), WEB, DEFAULTS, ssh_port=2222)


def test_route_and_app_rules_are_deleted_with_their_own_syntax():
    route = parse_tuple("### tuple ### route:allow tcp 80 10.1.0.0/16 any 0.0.0.0/0 in_eth0!out_eth1")
    assert delete_command(route) == "ufw --force route delete allow in on eth0 out on eth1 proto tcp from any to 10.1.0.0/16 port 80"
    app = parse_tuple("### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in")
    assert delete_command(app) == "ufw --force delete allow in from any to any app OpenSSH"
    assert add_command(parse_tuple("### tuple ### deny any any 0.0.0.0/0 any 1.2.3.0/24 in")) == "ufw deny in from 1.2.3.0/24 to any"


# --- settings -------------------------------------------------------------------------------------


def test_firewall_settings_defaults_and_registration():
    s = build(FirewallSettings, {}, "web1")
    assert FirewallSettings in SETTINGS_CLASSES
    assert (s.enabled, s.default_incoming, s.default_outgoing, s.default_routed, s.unmanaged_rules) == (
        True, "deny", "allow", "deny", "keep")


def test_bad_firewall_settings_are_named():
    with pytest.raises(SettingsError) as info:
        build(FirewallSettings, {"firewall_default_incoming": "allow",
                                 "firewall_extra_openings": [{"port": 70000, "sources": ["nowhere"]}]}, "web1")
    assert info.value.problems == [
        "host web1: firewall_extra_openings[0].port: expected a port from 1 to 65535, got 70000",
        "host web1: firewall_extra_openings[0].sources: expected 'any', an address or a network like '10.0.0.0/24', got 'nowhere'",
    ]
    with pytest.raises(SettingsError) as info:
        build(FirewallSettings, {"firewall_default_incoming": "allow"}, "web1")
    assert info.value.problems == [
        "host web1: firewall_default_incoming: expected 'deny' or 'reject', got 'allow' (that is no firewall)"
    ]
