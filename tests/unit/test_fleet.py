"""A fleet's wiring without a host: roles from groups, who proxies to whom,
where Gunicorn listens, the URLs the app gets and the app port's opening
(groundwork.fleet, groundwork.components.app.wiring,
groundwork.components.nginx.upstream, groundwork.component.HostRun), and the
app's rolling release switch (groundwork.components.app.rollout)."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
from pyinfra.api.exceptions import PyinfraError

from groundwork.component import HostRun
from groundwork.components import RUN_ORDER
from groundwork.components.app import APP_COMPONENT
from groundwork.components.app.wiring import app_environment, served_app
from groundwork.components.nginx.upstream import nginx_upstream
from groundwork.fleet import Fleet
from groundwork.runner import build_fleet, check_fleet
from groundwork.settings import SettingsError

SECRETS = {
    "app_source": "examples/demoapp",
    "app_callable": "demoapp.asgi:app",
    "postgres_roles": [{"name": "demo", "password": "db-password-1"}],
    "postgres_databases": [{"name": "demo", "owner": "demo"}],
    "redis_app_password": "cache-password-0123",
}


def hosts(*spec: str, each: dict[str, dict] | None = None, **data) -> list[SimpleNamespace]:
    """Hosts from 'name:group,group' with addresses 10.0.0.1, .2, ..., SECRETS and
    `data` in every host's data, and each[name] in that host's."""
    result = []
    for i, item in enumerate(spec, start=1):
        name, _, groups = item.partition(":")
        result.append(SimpleNamespace(
            name=name, groups=[g for g in groups.split(",") if g],
            data={"ssh_hostname": f"10.0.0.{i}", **SECRETS, **data, **(each or {}).get(name, {})},
        ))
    return result


def fleet(*spec: str, each: dict[str, dict] | None = None, **data) -> Fleet:
    """The fleet of hosts(...), every host's settings validated."""
    return build_fleet(hosts(*spec, each=each, **data))


def names(hosts) -> list[str]:
    return [h.name for h in hosts]


def test_one_host_without_groups_plays_every_role():
    solo_fleet = fleet("solo")
    solo = solo_fleet["solo"]
    for role in ("db", "cache", "app", "worker", "web"):
        assert solo_fleet.with_role(role) == [solo]


def test_web_and_worker_fall_to_the_app_hosts_not_to_the_db_host():
    f = fleet("db1:db,cache", "app1:app", "app2:app")
    assert names(f.with_role("web")) == ["app1", "app2"]
    assert names(f.with_role("worker")) == ["app1", "app2"]
    # nginx on each app host proxies to its own app only
    assert names(f.upstreams_of(f["app1"])) == ["app1"]
    assert names(f.proxies_of(f["app2"])) == ["app2"]


def test_a_web_host_balances_across_every_app_host():
    f = fleet("web1:web", "app1:app", "app2:app", "db1:db,cache")
    web1, app1 = f["web1"], f["app1"]
    assert names(f.upstreams_of(web1)) == ["app1", "app2"]
    assert names(f.proxies_of(app1)) == ["web1"]
    assert f.with_role("web") == [web1]


def test_gunicorn_keeps_its_socket_while_nginx_is_on_its_own_host():
    solo_fleet = fleet("solo")
    solo = solo_fleet["solo"]
    assert served_app(solo_fleet, solo) is solo.settings.app
    f = fleet("db1:db,cache", "app1:app", "app2:app")
    assert served_app(f, f["app1"]) is f["app1"].settings.app


def test_gunicorn_listens_on_its_own_address_for_a_remote_proxy_and_trusts_it():
    f = fleet("web1:web", "app1:app", "app2:app", "db1:db,cache")
    app = served_app(f, f["app2"])
    assert app.bind == "10.0.0.3:8000"
    assert app.forwarded_allow_ips == ["127.0.0.1", "::1", "10.0.0.1"]
    bound = fleet("web1:web", "app1:app", "app2:app", "db1:db,cache", each={"app2": {"app_bind": "10.9.9.9:9000"}})
    assert served_app(bound, bound["app2"]).bind == "10.9.9.9:9000"


def test_the_derived_app_settings_are_the_served_ones():
    f = fleet("web1:web", "app1:app", "app2:app", "db1:db,cache")
    assert HostRun(f, f["app2"], RUN_ORDER).derived_settings().app == served_app(f, f["app2"])


def test_nginx_upstream_lists_every_app_host_and_serves_no_static_from_afar():
    f = fleet("web1:web", "app1:app", "app2:app", "db1:db,cache", app_static_command="collect")
    upstream = nginx_upstream(f, f["web1"])
    assert upstream.servers == ("10.0.0.2:8000", "10.0.0.3:8000")
    assert upstream.static_root is None
    solo_fleet = fleet("solo", app_static_command="collect")
    local = nginx_upstream(solo_fleet, solo_fleet["solo"])
    assert local.servers == ("unix:/run/app/gunicorn.sock",)
    assert local.static_root == "/srv/app/current/static"


def test_the_app_gets_the_db_hosts_address_and_that_hosts_settings():
    f = fleet("db1:db,cache", "app1:app", each={"db1": {"postgres_port": 5433, "redis_port": 6380}})
    env = app_environment(f, f["app1"])
    assert env["DATABASE_URL"] == "postgresql://demo:db-password-1@10.0.0.1:5433/demo"
    assert env["REDIS_URL"] == "redis://app:cache-password-0123@10.0.0.1:6380/0"
    solo_fleet = fleet("solo")
    env = app_environment(solo_fleet, solo_fleet["solo"])
    assert env["DATABASE_URL"] == "postgresql://demo:db-password-1@127.0.0.1:5432/demo"


def test_two_db_hosts_are_an_error_that_names_them():
    f = fleet("db1:db", "db2:db", "app1:app,cache")
    with pytest.raises(ValueError, match=r"app_database_url: expected exactly one host in group 'db'.*db1, db2"):
        app_environment(f, f["app1"])
    # The run finds it before planning anything, naming the host.
    with pytest.raises(SettingsError) as exc:
        check_fleet(f, (APP_COMPONENT,))
    assert exc.value.problems == [(
        "host app1: app_database_url: expected exactly one host in group 'db' to connect the app to, "
        "found db1, db2; or set app_database_url"
    )]


def test_app_port_opens_only_to_remote_web_hosts():
    f = fleet("web1:web", "app1:app", "app2:app")
    opened = HostRun(f, f["app1"], RUN_ORDER).openings()
    assert [(o.port, o.sources) for o in opened if o.comment == "app"] == [(8000, ("10.0.0.1",))]
    alone_fleet = fleet("app1:app", "app2:app")  # nginx on each app host
    alone = HostRun(alone_fleet, alone_fleet["app1"], RUN_ORDER).openings()
    assert not [o for o in alone if o.comment == "app"]


def test_the_fleet_example_inventory_wires_web_to_every_app_host():
    from groundwork.testing.inventory import load_inventory

    f = load_inventory("inventories/fleet.example.py")
    web1 = f["web1.example.com"]
    assert names(f.upstreams_of(web1)) == ["app1.example.com", "app2.example.com", "app3.example.com"]
    assert names(f.with_role("db")) == ["db1.example.com"]
    assert names(f.with_role("worker")) == names(f.with_role("app"))
    assert f["db1.example.com"].address == "10.0.0.31"


def test_rollout_batches_follow_inventory_order_not_planning_order():
    from groundwork.components.app.rollout import Rollout

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

    from groundwork.components.app.rollout import Rollout, SwitchCommand

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

    from groundwork.components.app import rollout as rollout_module

    monkeypatch.setattr(rollout_module, "_rollouts", {})
    monkeypatch.setattr(rollout_module, "_switch", lambda *args, **kwargs: None)
    for name in ("app2", "app1"):
        with ctx_host.use(SimpleNamespace(name=name)):
            rollout_module.switch_release("demo", "r1", 1, name="Switch")
    rollout = rollout_module._rollouts[("demo", "r1")]
    assert rollout.before("app2", ["web1", "app1", "app2"]) == ["app1"]


def test_a_host_without_an_ip_address_is_named_in_the_error():
    inventory = hosts("db1:db,cache", "app1:app")
    inventory[0].data = {}  # connected by name only, no private_address
    f = build_fleet(inventory)
    with pytest.raises(PyinfraError, match=r"host db1: private_address: expected the IP address"):
        app_environment(f, f["app1"])


def test_the_host_of_the_run_is_known_by_name_not_identity():
    # pyinfra's `host` is a context proxy, a different object from the inventory's Host:
    # the fleet tells hosts apart by name.
    solo_fleet = fleet("solo", app_static_command="collect")
    solo = solo_fleet["solo"]
    proxy = dataclasses.replace(solo)
    assert proxy is not solo
    assert served_app(solo_fleet, proxy) is solo.settings.app
    env = app_environment(solo_fleet, proxy)
    assert "@127.0.0.1:" in env["DATABASE_URL"]
    upstream = nginx_upstream(solo_fleet, proxy)
    assert upstream.servers == ("unix:/run/app/gunicorn.sock",) and upstream.static_root
