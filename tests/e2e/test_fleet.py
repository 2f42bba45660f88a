"""A fleet on five lab hosts (issue 8): nginx on web1 balancing app1 and app2,
Postgres and Redis on db1, off-host backups and monitoring (Prometheus) on bak1.

Converge -> every verify test passes on every host -> re-converge changes
nothing -> a row written through the balancer is read on both app hosts; and
a release whose health check fails on the first app host stops the rollout
with both hosts serving the release they had.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess

import pytest

from groundwork.lab import lab
from groundwork.lab.acme import pebble_root
from groundwork.paths import ROOT
from groundwork.testing.converge import converge
from groundwork.testing.verify import run_verify

INVENTORY = "inventories/lab.py"
FLEET = ["web1:web", "app1:app", "app2:app", "db1:db,cache", "bak1:backup,monitor"]
SITE = "web1.groundwork.test"


@pytest.fixture(scope="module")
def fleet(lab_hosts, tmp_path_factory):
    state = lab.up(FLEET)
    first = converge(INVENTORY, "deploys/full.py")
    assert first.ok, first.describe()
    root = tmp_path_factory.mktemp("pebble") / "root.pem"
    root.write_text(pebble_root(state))
    state.acme_root = root
    yield state


def address(state, name: str) -> str:
    return state.hosts[name].address


def through_balancer(state, path: str, body: dict | None = None) -> dict:
    """HTTPS to web1 from the control machine, trusting the lab's ACME CA."""
    data = ["-X", "POST", "-H", "content-type: application/json", "-d", json.dumps(body)] if body else []
    out = subprocess.run(
        ["curl", "-sS", "--fail", "--max-time", "10", "--resolve", f"{SITE}:443:{address(state, 'web1')}",
         "--cacert", str(state.acme_root), *data, f"https://{SITE}{path}"],
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def on_app_host(state, name: str, path: str) -> dict:
    """Straight to Gunicorn on the app host's own address, from the app host."""
    url = f"http://{address(state, name)}:8000{path}"
    out = lab.run_on(name, f"curl -sS --fail --max-time 10 {shlex.quote(url)}")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def current_release(name: str) -> str:
    return lab.run_on(name, "readlink /srv/demoapp/current").stdout.strip()


def test_every_verify_test_passes_on_every_host(fleet):
    summary = run_verify("tests/verify", inventory=INVENTORY)
    assert " passed" in summary and "failed" not in summary, summary


def test_reconverge_changes_nothing_on_any_host(fleet):
    again = converge(INVENTORY, "deploys/full.py")
    assert again.ok, again.describe()
    assert again.changed == {}, again.describe()
    assert again.results["totals"]["no_change"] > 0


def test_the_balancer_spreads_over_both_app_hosts_which_share_one_database(fleet):
    name = f"fleet-{lab.run_on('db1', 'date +%s%N').stdout.strip()}"
    through_balancer(fleet, "/items", {"name": name, "embedding": [0.3, 0.2, 0.9]})
    for app_host in ("app1", "app2"):
        nearest = on_app_host(fleet, app_host, "/items/nearest?embedding=0.3,0.2,0.9&limit=1")["items"]
        assert [item["name"] for item in nearest] == [name], app_host
    upstreams = lab.run_on("web1", "grep -h 'server .*:8000;' /etc/nginx/sites-enabled/*").stdout
    assert address(fleet, "app1") in upstreams and address(fleet, "app2") in upstreams
    # Gunicorn's port is open to web1 only: the control machine is turned away.
    assert lab.probe_tcp("app1", address(fleet, "app1"), 8000) == "open"
    refused = subprocess.run(
        ["curl", "-s", "--max-time", "3", f"http://{address(fleet, 'app2')}:8000/health"], capture_output=True,
    )
    assert refused.returncode != 0


def test_celery_beat_runs_on_exactly_one_host(fleet):
    active = {h: lab.run_on(h, "systemctl is-active demoapp-celery-beat.service").stdout.strip() for h in ("app1", "app2")}
    assert active == {"app1": "active", "app2": "inactive"}, active
    workers = {h: lab.run_on(h, "systemctl is-active demoapp-celery-worker.service").stdout.strip() for h in ("app1", "app2")}
    assert workers == {"app1": "active", "app2": "active"}, workers


def test_a_release_failing_on_the_first_app_host_stops_the_rollout(fleet, tmp_path):
    before = {h: current_release(h) for h in ("app1", "app2")}
    copy = tmp_path / "demoapp-fleet"
    shutil.copytree(ROOT / "examples/demoapp", copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "tests"))
    init = copy / "demoapp/__init__.py"
    # Healthy everywhere but on app1, the first host of the rollout.
    init.write_text(init.read_text().replace('__version__ = "1.0.0"', '__version__ = "1.1.0"').replace(
        "HEALTHY = True", 'HEALTHY = __import__("socket").gethostname() != "app1"'))
    # 15 s for health (the broken host answers 503 at once); no later test here asks for zero changes.
    result = converge(INVENTORY, "deploys/app.py", data={"app_source": str(copy), "app_health_timeout": 15}, json_output=False)
    assert result.returncode != 0
    assert "Rollout of demoapp" in result.stderr and "stopped: app1 failed" in result.stderr, result.stderr[-3000:]
    for app_host in ("app1", "app2"):
        assert current_release(app_host) == before[app_host], app_host
        assert on_app_host(fleet, app_host, "/version")["version"] == "1.0.0"
    assert through_balancer(fleet, "/health")["status"] == "ok"


@pytest.mark.parametrize("port", [5432, 6379])
def test_postgres_and_redis_answer_their_clients_only(fleet, port):
    assert lab.probe_tcp("app1", address(fleet, "db1"), port) == "open"
    for other in ("web1", "bak1"):  # neither runs the app: the firewall drops them
        assert lab.probe_tcp(other, address(fleet, "db1"), port) == "TimeoutError", other


# Each exporter's port, on the hosts that run it (groundwork.components.monitoring.targets).
EXPORTER_PORTS = [("db1", 9100), ("db1", 9187), ("db1", 9121), ("web1", 9113), ("web1", 3903), ("app1", 9100)]


@pytest.mark.parametrize("target, port", EXPORTER_PORTS)
def test_exporters_answer_the_monitor_host_and_are_filtered_for_the_others(fleet, target, port):
    assert lab.probe_tcp("bak1", address(fleet, target), port) == "open"
    other = "app2" if target != "app2" else "app1"
    assert lab.probe_tcp(other, address(fleet, target), port) == "TimeoutError"  # filtered, not refused


def test_prometheus_on_the_monitor_host_scrapes_every_host_of_the_fleet(fleet):
    out = lab.run_on("bak1", "curl -fsS --max-time 10 'http://127.0.0.1:9090/api/v1/targets?state=active'")
    assert out.returncode == 0, out.stderr
    targets = json.loads(out.stdout)["data"]["activeTargets"]
    node = sorted(t["labels"]["instance"] for t in targets if t["labels"]["job"] == "node")
    assert node == ["app1", "app2", "bak1", "db1", "web1"]
    jobs = {t["labels"]["job"] for t in targets}
    assert {"postgres", "redis", "nginx", "nginx_log", "blackbox_site", "blackbox_health"} <= jobs
