"""A fleet's wiring without a host: roles from groups, who proxies to whom,
where Gunicorn listens, the URLs the app gets and the app port's opening."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pyinfra.api.exceptions import PyinfraError

from groundwork.ports import Peer, openings
from groundwork.settings import COMPONENTS, validate_host
from groundwork.topology import proxies_of, role_hosts, upstreams_of
from groundwork.wiring import app_environment, app_listen, nginx_upstream

SECRETS = {
    "app_source": "examples/demoapp",
    "app_callable": "demoapp.asgi:app",
    "postgres_roles": [{"name": "demo", "password": "db-password-1"}],
    "postgres_databases": [{"name": "demo", "owner": "demo"}],
    "redis_app_password": "cache-password-0123",
}


def fleet(*spec: str) -> list[SimpleNamespace]:
    """Hosts from 'name:group,group' with addresses 10.0.0.1, .2, ..."""
    hosts = []
    for i, item in enumerate(spec, start=1):
        name, _, groups = item.partition(":")
        hosts.append(SimpleNamespace(
            name=name, groups=[g for g in groups.split(",") if g], data={"ssh_hostname": f"10.0.0.{i}"},
        ))
    return hosts


def settings(name="h", **data) -> SimpleNamespace:
    return SimpleNamespace(**validate_host(name, {**SECRETS, **data}, COMPONENTS))


def names(hosts) -> list[str]:
    return [h.name for h in hosts]


def test_one_host_without_groups_plays_every_role():
    (solo,) = fleet("solo")
    for role in ("db", "cache", "app", "worker", "web"):
        assert role_hosts(role, [solo]) == [solo]


def test_web_and_worker_fall_to_the_app_hosts_not_to_the_db_host():
    hosts = fleet("db1:db,cache", "app1:app", "app2:app")
    assert names(role_hosts("web", hosts)) == ["app1", "app2"]
    assert names(role_hosts("worker", hosts)) == ["app1", "app2"]
    # nginx on each app host proxies to its own app only
    assert names(upstreams_of(hosts[1], hosts)) == ["app1"]
    assert names(proxies_of(hosts[2], hosts)) == ["app2"]


def test_a_web_host_balances_across_every_app_host():
    hosts = fleet("web1:web", "app1:app", "app2:app", "db1:db,cache")
    web1, app1, app2, db1 = hosts
    assert names(upstreams_of(web1, hosts)) == ["app1", "app2"]
    assert names(proxies_of(app1, hosts)) == ["web1"]
    assert role_hosts("web", hosts) == [web1]


def test_gunicorn_keeps_its_socket_while_nginx_is_on_its_own_host():
    (solo,) = fleet("solo")
    app = settings().app
    assert app_listen(app, solo, [solo]) is app
    hosts = fleet("db1:db,cache", "app1:app", "app2:app")
    assert app_listen(app, hosts[1], hosts) is app


def test_gunicorn_listens_on_its_own_address_for_a_remote_proxy_and_trusts_it():
    hosts = fleet("web1:web", "app1:app", "app2:app", "db1:db,cache")
    app = app_listen(settings().app, hosts[2], hosts)
    assert app.bind == "10.0.0.3:8000"
    assert app.forwarded_allow_ips == ["127.0.0.1", "::1", "10.0.0.1"]
    assert app_listen(settings(app_bind="10.9.9.9:9000").app, hosts[2], hosts).bind == "10.9.9.9:9000"


def test_nginx_upstream_lists_every_app_host_and_serves_no_static_from_afar():
    hosts = fleet("web1:web", "app1:app", "app2:app", "db1:db,cache")
    each = {h.name: settings(h.name, app_static_command="collect") for h in hosts}
    upstream = nginx_upstream(each["web1"], hosts[0], hosts, lambda h: each[h.name])
    assert upstream.servers == ("10.0.0.2:8000", "10.0.0.3:8000")
    assert upstream.static_root is None
    (solo,) = fleet("solo")
    local = nginx_upstream(each["web1"], solo, [solo], lambda h: each["web1"])
    assert local.servers == ("unix:/run/app/gunicorn.sock",)
    assert local.static_root == "/srv/app/current/static"


def test_the_app_gets_the_db_hosts_address_and_that_hosts_settings():
    hosts = fleet("db1:db,cache", "app1:app")
    each = {"db1": settings("db1", postgres_port=5433, redis_port=6380), "app1": settings("app1")}
    env = app_environment(each["app1"], hosts[1], hosts, lambda h: each[h.name])
    assert env["DATABASE_URL"] == "postgresql://demo:db-password-1@10.0.0.1:5433/demo"
    assert env["REDIS_URL"] == "redis://app:cache-password-0123@10.0.0.1:6380/0"
    (solo,) = fleet("solo")
    env = app_environment(each["app1"], solo, [solo], lambda h: each["app1"])
    assert env["DATABASE_URL"] == "postgresql://demo:db-password-1@127.0.0.1:5432/demo"


def test_two_db_hosts_are_an_error_that_names_them():
    hosts = fleet("db1:db", "db2:db", "app1:app,cache")
    with pytest.raises(PyinfraError, match=r"app_database_url: expected exactly one host in group 'db'.*db1, db2"):
        app_environment(settings(), hosts[2], hosts, lambda h: settings())


def test_app_port_opens_only_to_remote_web_hosts():
    web = Peer("10.0.0.1", frozenset({"web"}))
    app2 = Peer("10.0.0.3", frozenset({"app", "worker", "web"}))
    opened = openings(settings(), {"app", "worker"}, [web, app2])
    assert [(o.port, o.sources) for o in opened if o.comment == "app"] == [(8000, ("10.0.0.1",))]
    alone = openings(settings(), {"app", "worker", "web"}, [app2])
    assert not [o for o in alone if o.comment == "app"]


def test_the_fleet_example_inventory_wires_web_to_every_app_host():
    from groundwork.ports import host_address
    from groundwork.testing.inventory import load_inventory

    hosts = load_inventory("inventories/fleet.example.py")
    by_name = {h.name: h for h in hosts}
    web1 = by_name["web1.example.com"]
    assert names(upstreams_of(web1, hosts)) == ["app1.example.com", "app2.example.com", "app3.example.com"]
    assert names(role_hosts("db", hosts)) == ["db1.example.com"]
    assert names(role_hosts("worker", hosts)) == names(role_hosts("app", hosts))
    assert host_address(by_name["db1.example.com"].data) == "10.0.0.31"


def test_rollout_batches_follow_inventory_order_not_planning_order():
    from groundwork.rollout import Rollout

    rollout = Rollout(batch=1)
    for name in ("app3", "app1", "app2"):  # pyinfra plans hosts in parallel
        rollout.add(name)
    order = ["web1", "app1", "app2", "db1", "app3"]
    assert rollout.before("app1", order) == []
    assert rollout.before("app2", order) == ["app1"]
    assert rollout.before("app3", order) == ["app1", "app2"]
    pairs = Rollout(batch=2)
    for name in ("app1", "app2", "app3"):
        pairs.add(name)
    assert pairs.before("app2", order) == [] and pairs.before("app3", order) == ["app1", "app2"]


def test_a_switch_that_raises_stops_the_hosts_after_it(monkeypatch):
    # A lost connection is an exception, not a non-zero exit: the rollout must stop all the same.
    from pyinfra.api import StringCommand

    from groundwork.rollout import Rollout, SwitchCommand

    def lost_connection(self, state, host, connector_arguments):
        raise OSError("connection lost")

    monkeypatch.setattr(StringCommand, "execute", lost_connection)
    rollout = Rollout(batch=1)
    app1, app2 = (SimpleNamespace(name=n, log_styled=lambda *a, **k: None) for n in ("app1", "app2"))
    for h in (app1, app2):
        rollout.add(h.name)
    state = SimpleNamespace(inventory=[app1, app2], active_hosts=[app1, app2])
    command = SwitchCommand(rollout, "demo", "r1")
    with pytest.raises(OSError):
        command.execute(state, app1, {})
    assert rollout.failed_on == "app1" and rollout.done["app1"].is_set()
    status, _ = command.execute(state, app2, {})
    assert status is False and rollout.failed_on == "app1"


def test_every_switching_host_joins_its_rollout_while_the_deploy_is_planned(monkeypatch):
    # pyinfra may run an operation's body only when the host reaches it: a host
    # joining only then could find no one before it and switch out of turn.
    from pyinfra.context import ctx_host

    from groundwork import rollout as rollout_module

    monkeypatch.setattr(rollout_module, "_rollouts", {})
    monkeypatch.setattr(rollout_module, "_switch", lambda *args, **kwargs: None)
    for name in ("app2", "app1"):
        with ctx_host.use(SimpleNamespace(name=name)):
            rollout_module.switch_release("demo", "r1", 1, name="Switch")
    rollout = rollout_module._rollouts[("demo", "r1")]
    assert rollout.before("app2", ["web1", "app1", "app2"]) == ["app1"]


def test_a_host_without_an_ip_address_is_named_in_the_error():
    hosts = fleet("db1:db,cache", "app1:app")
    hosts[0].data = {}  # connected by name only, no private_address
    with pytest.raises(PyinfraError, match=r"host db1: private_address: expected the IP address"):
        app_environment(settings(), hosts[1], hosts, lambda h: settings())


def test_the_host_of_the_run_is_known_by_name_not_identity():
    # pyinfra's `host` is a context proxy, a different object from the inventory's Host.
    (solo,) = fleet("solo")
    proxy = SimpleNamespace(**vars(solo))
    app = settings().app
    assert app_listen(app, proxy, [solo]) is app
    env = app_environment(settings(), proxy, [solo], lambda h: settings())
    assert "@127.0.0.1:" in env["DATABASE_URL"]
    upstream = nginx_upstream(settings(app_static_command="collect"), proxy, [solo], lambda h: settings(app_static_command="collect"))
    assert upstream.servers == ("unix:/run/app/gunicorn.sock",) and upstream.static_root
