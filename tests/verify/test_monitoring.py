"""Monitoring, verified on any inventory: pytest tests/verify --inventory FILE

Every monitored host runs its exporters where the inventory says they listen;
on a monitor host Prometheus, Alertmanager and the blackbox exporter answer,
their configs pass their own checkers, and Prometheus reports every target it
was given up (waited for, bounded, since a target just started needs a scrape).
"""

from __future__ import annotations

import json
import shlex
import time

import pytest

from groundwork.components.monitoring.deploy import (
    ALERTMANAGER_CONFIG,
    PROMETHEUS_CONFIG,
    TEXTFILE_DIR,
)
from groundwork.components.monitoring.targets import (
    ALERTMANAGER_PORT,
    BLACKBOX_PORT,
    EXPORTER_PORTS,
    EXPORTER_SERVICES,
    PROMETHEUS_PORT,
    exporters_of,
    health_probes,
    host_port,
    listen_address,
    monitored,
    scrape_targets,
    site_probes,
)
from groundwork.components.postgres.access import MONITOR_ROLE
from groundwork.fleet import MONITOR

TARGETS_UP_WITHIN = 180  # seconds: a fresh target needs a scrape interval or two


def _monitored(inventory_host):
    if not monitored(inventory_host):
        pytest.skip("monitoring_enabled is false on this host")


def test_every_exporter_runs_and_answers_where_the_inventory_says(host, inventory, inventory_host):
    _monitored(inventory_host)
    address = listen_address(inventory, inventory_host)
    for exporter in exporters_of(inventory_host):
        service = EXPORTER_SERVICES[exporter]
        assert host.service(service).is_running and host.service(service).is_enabled, service
        url = f"http://{host_port(address, EXPORTER_PORTS[exporter])}/metrics"
        result = host.run(f"curl -fsS --max-time 10 {url}")
        assert result.rc == 0, f"{service} at {url}: {result.stderr}"


# What each exporter reports when it reaches what it watches (its target being up is not enough:
# a Redis exporter refused by the ACL still answers its own /metrics).
REACHES = {"postgres": "pg_up 1", "redis": "redis_up 1", "nginx": "nginx_up 1"}


def test_each_exporter_reaches_its_service(host, inventory, inventory_host):
    _monitored(inventory_host)
    address = listen_address(inventory, inventory_host)
    for exporter in exporters_of(inventory_host):
        if exporter in REACHES:
            metrics = host.check_output(f"curl -fsS --max-time 10 http://{host_port(address, EXPORTER_PORTS[exporter])}/metrics")
            assert REACHES[exporter] in metrics.splitlines(), f"{exporter}: no {REACHES[exporter]!r}"


@pytest.mark.group("db")
def test_the_exporters_postgres_role_is_in_pg_monitor_and_nothing_more(host, inventory_host, settings):
    _monitored(inventory_host)
    row = host.check_output(
        "runuser -u postgres -- psql -X -A -t -p %s -d postgres -c %s", str(settings.postgres.port),
        "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolreplication, "
        f"pg_has_role(oid, 'pg_monitor', 'MEMBER'), rolpassword IS NULL FROM pg_authid WHERE rolname = '{MONITOR_ROLE}'")
    assert row.strip() == "t|f|f|f|f|t|t", row


def test_exporters_listen_on_nothing_but_their_address(host, inventory, inventory_host):
    _monitored(inventory_host)
    address = listen_address(inventory, inventory_host)
    listening = host.check_output("ss -Htln").split("\n")
    for exporter in exporters_of(inventory_host):
        port = EXPORTER_PORTS[exporter]
        local = [line.split()[3] for line in listening if line.split()[3].rsplit(":", 1)[1] == str(port)]
        assert local == [host_port(address, port)], (exporter, local)


def test_node_exporter_reads_systemd_and_the_textfile_directory(host, inventory_host):
    _monitored(inventory_host)
    assert host.file(TEXTFILE_DIR).is_directory
    args = host.file("/etc/default/prometheus-node-exporter").content_string
    assert "--collector.systemd" in args and f"--collector.textfile.directory={TEXTFILE_DIR}" in args


def _on_monitor(inventory_host):
    _monitored(inventory_host)
    if not inventory_host.plays(MONITOR):
        pytest.skip("not a monitor host")


def test_prometheus_alertmanager_and_blackbox_answer_on_loopback_only(host, inventory_host):
    _on_monitor(inventory_host)
    for service, port, path in (("prometheus", PROMETHEUS_PORT, "/-/ready"),
                                ("prometheus-alertmanager", ALERTMANAGER_PORT, "/-/ready"),
                                ("prometheus-blackbox-exporter", BLACKBOX_PORT, "/metrics")):
        assert host.service(service).is_running and host.service(service).is_enabled, service
        assert host.run(f"curl -fsS --max-time 10 http://127.0.0.1:{port}{path}").rc == 0, service
        listening = [line.split()[3] for line in host.check_output("ss -Htln").split("\n")
                     if line.split()[3].rsplit(":", 1)[1] == str(port)]
        assert listening == [f"127.0.0.1:{port}"], (service, listening)
    # Alertmanager's cluster port is off: one Alertmanager per monitor host.
    assert ":9094 " not in host.check_output("ss -Htln") + " "


def test_configs_pass_their_checkers(host, inventory_host):
    _on_monitor(inventory_host)
    for command in (f"promtool check config {PROMETHEUS_CONFIG}", f"amtool check-config {ALERTMANAGER_CONFIG}"):
        result = host.run(command)
        assert result.rc == 0, command + "\n" + result.stdout + result.stderr
    assert host.file(ALERTMANAGER_CONFIG).mode == 0o640  # may hold the SMTP password


def expected_targets(inventory, inventory_host) -> set[tuple[str, str]]:
    """(job, instance) of every target the monitor host was given."""
    found = {("prometheus", inventory_host.name), ("alertmanager", inventory_host.name)}
    for job, targets in scrape_targets(inventory, inventory_host).items():
        found |= {(job, t.host) for t in targets}
    found |= {("blackbox_site", p.url) for p in site_probes(inventory, inventory_host)}
    found |= {("blackbox_health", p.url) for p in health_probes(inventory, inventory_host)}
    return found


def query(host, promql: str) -> list[dict]:
    result = host.run(f"curl -fsS --max-time 10 http://127.0.0.1:{PROMETHEUS_PORT}/api/v1/query "
                      f"--data-urlencode {shlex.quote('query=' + promql)}")
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)["data"]["result"]


def test_prometheus_sees_every_target_up_and_every_probe_succeed(host, inventory, inventory_host):
    _on_monitor(inventory_host)
    expected = expected_targets(inventory, inventory_host)
    deadline = time.monotonic() + TARGETS_UP_WITHIN
    while True:
        # The targets of the config Prometheus runs now (a query of `up` would also show, for
        # five minutes, the series of targets an earlier config had).
        active = json.loads(host.check_output(
            f"curl -fsS --max-time 10 http://127.0.0.1:{PROMETHEUS_PORT}/api/v1/targets?state=active"))
        up = {(t["labels"]["job"], t["labels"]["instance"]): "1" if t["health"] == "up" else t["health"]
              for t in active["data"]["activeTargets"]}
        probes = {r["metric"]["instance"]: r["value"][1] for r in query(host, "probe_success")}
        down = sorted(k for k in expected if up.get(k) != "1")
        failing = sorted(i for job, i in expected if job.startswith("blackbox") and probes.get(i) != "1")
        if set(up) == expected and not down and not failing:
            break
        assert time.monotonic() < deadline, (
            f"after {TARGETS_UP_WITHIN} s: not up {down}, probes failing {failing}, "
            f"unexpected {sorted(set(up) - expected)}")
        time.sleep(5)


def test_the_rules_are_loaded_and_nothing_fires(host, inventory, inventory_host):
    _on_monitor(inventory_host)
    result = host.run(f"curl -fsS --max-time 10 http://127.0.0.1:{PROMETHEUS_PORT}/api/v1/rules")
    groups = json.loads(result.stdout)["data"]["groups"]
    assert sum(len(g["rules"]) for g in groups) >= 20
    firing = [a["labels"]["alertname"] + "@" + a["labels"].get("instance", "")
              for a in json.loads(host.check_output(
                  f"curl -fsS --max-time 10 http://127.0.0.1:{PROMETHEUS_PORT}/api/v1/alerts"))["data"]["alerts"]
              if a["state"] == "firing"]
    assert firing == [], firing

