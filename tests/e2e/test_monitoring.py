"""Monitoring on the one-host lab (lab1, the whole stack): Prometheus finds every
target it was given up, a stopped Redis fires RedisDown and Alertmanager delivers
it, then its resolution, to a webhook this test runs on the lab gateway; a
failed backup run fires BackupFailed. Scrape interval and `for:` are shortened
through settings for the test, and put back after it."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from groundwork.components.backups.deploy import BACKUP_UNIT, CONF_DIR
from groundwork.lab.lab import run_on
from groundwork.lab.state import LabState
from groundwork.testing.converge import converge

LAB_INVENTORY = "inventories/lab.py"
FAST = {
    "monitoring_scrape_interval": "5s", "monitoring_down_for": "10s",
    "monitoring_group_wait": "5s", "monitoring_group_interval": "10s", "monitoring_repeat_interval": "1h",
}
MAX_NOTIFICATIONS = 200  # the receiver stops counting (and the test fails) past this many
NOTIFIED_WITHIN = 240  # seconds from the fault to Alertmanager's notification, busy machine included


class Webhook:
    """Alertmanager's webhook receiver on the lab gateway: keeps each notification's alerts."""

    def __init__(self, address: str):
        self.alerts: list[dict] = []
        self.requests = 0
        self.changed = threading.Condition()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with hook.changed:
                    hook.requests += 1
                    if hook.requests <= MAX_NOTIFICATIONS:
                        hook.alerts += json.loads(body).get("alerts", [])
                    hook.changed.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((address, 0), Handler)
        self.url = f"http://{address}:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, alertname: str, status: str, timeout: float = NOTIFIED_WITHIN) -> dict:
        def found():
            return next((a for a in self.alerts if a["labels"].get("alertname") == alertname
                         and a["status"] == status), None)

        with self.changed:
            if not self.changed.wait_for(lambda: found() or self.requests > MAX_NOTIFICATIONS, timeout=timeout):
                pytest.fail(f"no {status} {alertname} within {timeout} s; got "
                            f"{[(a['labels'].get('alertname'), a['status']) for a in self.alerts]}")
            assert self.requests <= MAX_NOTIFICATIONS, "more notifications than any fault here makes"
            return found()

    def forget(self) -> None:
        with self.changed:
            self.alerts.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def alerting(full_stack):
    hook = Webhook(LabState.load().gateway)
    try:
        fast = converge(LAB_INVENTORY, "deploys/monitoring.py", data={**FAST, "monitoring_alert_webhooks": [hook.url]})
        assert fast.ok, fast.describe()
        yield hook
    finally:
        hook.close()
        # Back to the inventory's own settings: later modules see the host as full_stack left it.
        restored = converge(LAB_INVENTORY, "deploys/monitoring.py")
        assert restored.ok, restored.describe()


def prometheus(path: str) -> dict:
    result = run_on("lab1", f"curl -fsS --max-time 10 'http://127.0.0.1:9090{path}'")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["data"]


def test_prometheus_finds_every_target_of_the_one_host_up(full_stack):
    expected = {"prometheus", "alertmanager", "node", "postgres", "redis", "nginx", "nginx_log", "blackbox_site"}
    deadline = time.monotonic() + 180
    while True:
        targets = prometheus("/api/v1/targets?state=active")["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in targets}
        probes = {r["metric"]["instance"]: r["value"][1] for r in prometheus("/api/v1/query?query=probe_success")["result"]}
        if set(health) == expected and len(targets) == 8 and set(health.values()) == {"up"} and set(probes.values()) == {"1"}:
            break
        assert time.monotonic() < deadline, (health, probes)
        time.sleep(3)
    # The site probe verified pebble's certificate and knows when it expires.
    expiry = prometheus("/api/v1/query?query=probe_ssl_earliest_cert_expiry")["result"]
    assert len(expiry) == 1 and float(expiry[0]["value"][1]) > time.time()


def test_a_stopped_redis_is_notified_then_its_recovery(alerting):
    alerting.forget()
    run_on("lab1", "systemctl stop redis-server")
    try:
        firing = alerting.wait_for("RedisDown", "firing")
        assert firing["labels"]["instance"] == "lab1" and firing["labels"]["severity"] == "critical"
        assert "lab1" in firing["annotations"]["summary"] + firing["annotations"]["description"]
    finally:
        run_on("lab1", "systemctl start redis-server")
    alerting.wait_for("RedisDown", "resolved")


def test_a_failed_backup_run_fires_backup_failed_and_a_good_one_resolves_it(alerting):
    alerting.forget()
    recipients = f"{CONF_DIR}/recipients.txt"
    # age has nobody to encrypt to: the run fails after the dump, before anything is kept.
    run_on("lab1", f"mv {recipients} {recipients}.away")
    try:
        failed = run_on("lab1", f"systemctl start {BACKUP_UNIT}.service", timeout=300)
        assert failed.returncode != 0
        metrics = run_on("lab1", "cat /var/lib/prometheus/node-exporter/groundwork_backup_backup.prom").stdout
        assert 'groundwork_backup_last_run_success{kind="backup"} 0' in metrics, metrics
        alert = alerting.wait_for("BackupFailed", "firing")
        assert alert["labels"]["instance"] == "lab1"
    finally:
        run_on("lab1", f"mv {recipients}.away {recipients}")
    good = run_on("lab1", f"systemctl reset-failed {BACKUP_UNIT}.service; systemctl start {BACKUP_UNIT}.service", timeout=300)
    assert good.returncode == 0, good.stderr
    alerting.wait_for("BackupFailed", "resolved")
