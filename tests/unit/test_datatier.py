"""The data tier across hosts without a host: who Postgres and Redis listen
for and admit, derived from inventory groups through the fleet
(groundwork.components.postgres.access, groundwork.components.redis.access,
groundwork.fleet), and the firewall openings that follow from it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pyinfra.api.exceptions import PyinfraError

from groundwork.component import HostRun, Opening
from groundwork.components import RUN_ORDER, SETTINGS_CLASSES
from groundwork.components.postgres import POSTGRES
from groundwork.components.postgres.access import (
    LOOPBACK_POSTGRES,
    PostgresAccess,
    ReplicationClient,
    postgres_access,
    slot_name,
)
from groundwork.components.redis.access import LOOPBACK_REDIS, redis_bind
from groundwork.fleet import WORKER, Fleet
from groundwork.runner import build_fleet, check_fleet
from groundwork.settings import SettingsError, validate_host
from groundwork.settings.schema import deploy_problems


def inventory(*specs: str, **addresses: str) -> list[SimpleNamespace]:
    """Hosts like pyinfra's: "db1:db,cache" -> name db1 in groups db and cache, address 10.0.0.N."""
    hosts = []
    for n, spec in enumerate(specs, start=10):
        name, _, groups = spec.partition(":")
        address = addresses.get(name, f"10.0.0.{n}")
        hosts.append(SimpleNamespace(name=name, groups=[g for g in groups.split(",") if g],
                                     data={"ssh_hostname": address}))
    return hosts


def with_data(hosts, name: str, data: dict) -> list[SimpleNamespace]:
    """Copies of `hosts` with `data` added to the host data of host `name`."""
    return [SimpleNamespace(name=h.name, groups=h.groups, data={**h.data, **(data if h.name == name else {})})
            for h in hosts]


def access(hosts, name: str, **hand_set) -> PostgresAccess:
    """postgres_access of host `name`; `hand_set` are its postgres_* settings."""
    fleet = build_fleet(with_data(hosts, name, {f"postgres_{key}": list(value) for key, value in hand_set.items()}))
    return postgres_access(fleet, fleet[name])


def bind(hosts, name: str, hand_set=None) -> tuple[str, ...]:
    """redis_bind of host `name`; `hand_set` is its redis_bind setting."""
    fleet = build_fleet(with_data(hosts, name, {} if hand_set is None else {"redis_bind": list(hand_set)}))
    return redis_bind(fleet, fleet[name])


LAB = inventory("db1:db,cache", "app1:app", "rep1:replica")


def test_one_host_stays_loopback_only():
    hosts = inventory("lab1")
    # Admitted over the socket by peer: the monitoring exporter's role (monitoring is on by default).
    assert access(hosts, "lab1") == PostgresAccess(LOOPBACK_POSTGRES, (), "replicator", (), ("prometheus",))
    assert bind(hosts, "lab1") == LOOPBACK_REDIS == ("127.0.0.1", "-::1")


def test_hosts_without_groups_each_use_their_own_data_tier():
    # Every role falls to every host: each runs its own Postgres and Redis.
    hosts = inventory("lab1", "lab2")
    assert access(hosts, "lab1").listen_addresses == ("localhost",)
    assert access(hosts, "lab1").allowed_clients == ()
    assert bind(hosts, "lab1") == LOOPBACK_REDIS


def test_db_host_listens_on_its_address_and_admits_exactly_the_app_host_and_the_replica():
    result = access(LAB, "db1")
    assert result.listen_addresses == ("localhost", "10.0.0.10")
    assert result.allowed_clients == ("10.0.0.11/32",)
    assert result.replicas == (ReplicationClient("10.0.0.12/32", "groundwork_rep1"),)
    assert bind(LAB, "db1") == ("127.0.0.1", "-::1", "10.0.0.10")


def test_the_replica_and_the_app_host_serve_nobody():
    assert access(LAB, "rep1") == PostgresAccess(LOOPBACK_POSTGRES, (), "replicator", (), ("prometheus",))
    assert access(LAB, "app1").replicas == ()


def test_a_worker_role_that_falls_to_every_host_admits_nobody():
    # No worker group: Celery runs on the app hosts; rep1 and web1 run no app code.
    hosts = inventory("db1:db,cache", "app1:app", "web1:web", "rep1:replica")
    fleet = Fleet.from_inventory(hosts)
    assert not fleet["rep1"].plays(WORKER)
    assert not fleet["web1"].plays(WORKER)
    assert access(hosts, "db1").allowed_clients == ("10.0.0.11/32",)


def test_worker_group_hosts_are_admitted():
    hosts = inventory("db1:db", "cache1:cache", "app1:app", "w1:worker", "w2:worker")
    assert access(hosts, "db1").allowed_clients == ("10.0.0.12/32", "10.0.0.13/32", "10.0.0.14/32")
    assert bind(hosts, "cache1") == ("127.0.0.1", "-::1", "10.0.0.11")


def test_private_address_wins_over_ssh_hostname():
    hosts = inventory("db1:db,cache", "app1:app")
    hosts[1].data["private_address"] = "192.168.5.11"
    hosts[0].data["private_address"] = "192.168.5.10"
    result = access(hosts, "db1")
    assert (result.listen_addresses, result.allowed_clients) == (("localhost", "192.168.5.10"), ("192.168.5.11/32",))


def test_ipv6_peers_are_single_host_networks():
    hosts = inventory("db1:db", "app1:app", db1="fd00::10", app1="fd00::11")
    assert access(hosts, "db1").allowed_clients == ("fd00::11/128",)
    (x,) = Fleet.from_inventory(inventory("x", x="10.1.2.3"))
    assert x.cidr() == "10.1.2.3/32"


def test_hand_set_values_win():
    result = access(LAB, "db1", listen_addresses=("*",), allowed_clients=("10.9.0.0/16",))
    assert (result.listen_addresses, result.allowed_clients) == (("*",), ("10.9.0.0/16",))
    assert result.replicas  # replication access is always derived
    assert bind(LAB, "db1", ("0.0.0.0",)) == ("0.0.0.0",)


def test_a_peer_without_an_ip_address_is_named():
    hosts = inventory("db1:db", "app1:app", app1="app1.example.org")
    with pytest.raises(PyinfraError) as exc:
        access(hosts, "db1")
    assert str(exc.value) == (
        "host app1: private_address: expected the IP address other hosts reach it on "
        "(private_address, or ssh_hostname as an IP address), got 'app1.example.org'"
    )


def test_slot_names_are_valid_identifiers():
    assert slot_name("rep1") == "groundwork_rep1"
    assert slot_name("DB-Replica.2") == "groundwork_db_replica_2"
    assert len(slot_name("r" * 100)) == 63


# --- the firewall follows the same derivation -----------------------------------------------------


def _ns(**data):
    built = validate_host("h", {"redis_app_password": "x" * 20, **data}, SETTINGS_CLASSES)
    return SimpleNamespace(**built)


def _openings(hosts, name: str) -> list[Opening]:
    """Every opening the components that play on host `name` declare."""
    fleet = build_fleet(hosts)
    return HostRun(fleet, fleet[name], RUN_ORDER).openings()


def test_firewall_opens_postgres_to_the_replica_and_redis_only_to_the_app_host():
    result = _openings(LAB, "db1")
    assert Opening(5432, "tcp", ("10.0.0.11", "10.0.0.12"), "postgres") in result
    assert Opening(6379, "tcp", ("10.0.0.11",), "redis") in result


def test_firewall_opens_no_data_port_between_hosts_without_groups():
    result = _openings(inventory("lab1", "lab2"), "lab1")
    assert [o.comment for o in result] == ["ssh", "http", "https"]


# --- inventory shapes and the settings replicas need ----------------------------------------------


def _problems(*hosts: tuple[str, list[str]]) -> list[str]:
    return Fleet.from_inventory(SimpleNamespace(name=name, groups=groups, data={}) for name, groups in hosts).problems()


def test_replicas_need_one_db_host_that_is_not_a_replica():
    assert _problems(("db1", ["db"]), ("rep1", ["replica"])) == []
    assert _problems(("lab1", [])) == []
    assert _problems(("rep1", ["replica"]), ("app1", ["app"])) == [
        "host rep1: groups: expected a replica that is not the db host it streams from, "
        "got one playing db because no host is in the db group",
    ]
    assert _problems(("db1", ["db"]), ("db2", ["db", "replica"])) == [
        "host db2: groups: expected a replica that is not the db host it streams from, got one in the db group too",
    ]
    assert _problems(("db1", ["db"]), ("db2", ["db"]), ("rep1", ["replica"])) == [
        "host db1: groups: expected one db host for the replicas to stream from, got db1, db2",
        "host db2: groups: expected one db host for the replicas to stream from, got db1, db2",
    ]


def test_build_fleet_refuses_the_inventory_shapes_replicas_cannot_stream_in():
    hosts = inventory("db1:db", "db2:db,replica")
    with pytest.raises(SettingsError) as exc:
        build_fleet(hosts)
    assert exc.value.problems == [
        "host db2: groups: expected a replica that is not the db host it streams from, got one in the db group too",
    ]


def test_replication_password_is_required_only_with_replicas():
    postgres = _ns().postgres
    assert deploy_problems("db1", postgres, frozenset({"db", "app"})) == []
    assert deploy_problems("db1", postgres, frozenset({"db", "replica"})) == [
        "host db1: postgres_replication_password: required when the inventory has a `replica` group, "
        "not set (replicas stream as replication_user)",
    ]
    assert deploy_problems("db1", _ns(postgres_replication_password="r" * 16).postgres, frozenset({"replica"})) == []


def test_the_postgres_checks_ask_for_the_replication_password_on_the_db_host_and_the_replica():
    with pytest.raises(SettingsError) as exc:
        check_fleet(build_fleet(LAB), (POSTGRES,))
    message = ("postgres_replication_password: required when the inventory has a `replica` group, "
               "not set (replicas stream as replication_user)")
    assert exc.value.problems == [f"host db1: {message}", f"host rep1: {message}"]
    no_replica = inventory("db1:db,cache", "app1:app")
    check_fleet(build_fleet(no_replica), (POSTGRES,))  # no problem
    password = {"postgres_replication_password": "r" * 16}
    check_fleet(build_fleet(with_data(with_data(LAB, "db1", password), "rep1", password)), (POSTGRES,))


def test_replication_user_must_be_a_role_of_its_own():
    with pytest.raises(SettingsError) as exc:
        _ns(postgres_roles=[{"name": "app"}], postgres_replication_user="app")
    assert exc.value.problems == [
        "host h: postgres_replication_user: expected a role of its own, not postgres or one of postgres_roles, got 'app'",
    ]
