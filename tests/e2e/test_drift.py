"""`groundwork converge` on the converged lab host: hand-made drift is reported
by a dry run that changes nothing, repaired by a real run, and gone after it;
runs never overlap."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from groundwork.converge import EXIT_CLEAN, EXIT_DRIFT, EXIT_LOCKED
from groundwork.lab.lab import run_on
from groundwork.paths import ROOT

LAB_INVENTORY = "inventories/lab.py"
SITE_FILE = "/etc/nginx/sites-available/demoapp.conf"
HAND_EDIT = "# edited by hand on the host"
UPLOAD_SITE = "Nginx | Upload the demoapp site"
START_REDIS = "Redis | Enable and start redis-server"
START_APP = "App | Keep demoapp enabled and running"
DRIFT = [START_REDIS, START_APP, UPLOAD_SITE]  # in run order
# group_data/lab.py's passwords: none may reach the report or the log.
LAB_SECRETS = ("lab-app-password-not-secret", "lab-redis-app-password-not-secret", "lab-redis-admin-password-not-secret")


def groundwork_converge(tmp_path: Path, *args: str, wait: bool = True):
    argv = [str(Path(sys.executable).with_name("groundwork")), "converge", LAB_INVENTORY,
            "--report", str(tmp_path / "report.json"), "--lock", str(tmp_path / "converge.lock"), *args]
    if not wait:
        return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=1200)


def report_of(tmp_path: Path, run) -> dict:
    text = (tmp_path / "report.json").read_text()
    for secret in LAB_SECRETS:
        assert secret not in text + run.stdout + run.stderr
    return json.loads(text)


def describe(run) -> str:
    return f"exit {run.returncode}\n{run.stdout}\n{run.stderr[-3000:]}"


def states() -> list[str]:
    return run_on("lab1", "systemctl is-active redis-server demoapp").stdout.split()


def site_is_edited() -> bool:
    return run_on("lab1", f"grep -qxF '{HAND_EDIT}' {SITE_FILE}").returncode == 0


@pytest.fixture
def drifted(full_stack):
    # A comment keeps the site valid: the drift is in the file, not in what nginx serves.
    out = run_on("lab1", f"echo '{HAND_EDIT}' >> {SITE_FILE} && systemctl stop redis-server demoapp")
    assert out.returncode == 0, out.stderr
    yield
    run_on("lab1", f"sed -i '/^{HAND_EDIT}$/d' {SITE_FILE}; systemctl start redis-server demoapp")


def test_drift_is_reported_by_a_dry_run_then_repaired_and_runs_never_overlap(drifted, tmp_path):
    dry = groundwork_converge(tmp_path, "--dry-run")
    assert dry.returncode == EXIT_DRIFT, describe(dry)
    lab1 = report_of(tmp_path, dry)["hosts"]["lab1"]
    assert lab1["status"] == "drift" and lab1["changed"] == DRIFT, lab1
    assert f"lab1: drift, 3 operation(s) would change: {'; '.join(DRIFT)}\n" in dry.stdout, describe(dry)
    # The dry run changed nothing.
    assert site_is_edited() and states() == ["inactive", "inactive"]

    repair = groundwork_converge(tmp_path, wait=False)
    lock = tmp_path / "converge.lock"
    deadline = time.monotonic() + 60
    while not (lock.exists() and lock.read_text().strip() == str(repair.pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    started = time.monotonic()
    refused = subprocess.run(
        [str(Path(sys.executable).with_name("groundwork")), "converge", LAB_INVENTORY, "--dry-run",
         "--report", str(tmp_path / "refused.json"), "--lock", str(lock)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert refused.returncode == EXIT_LOCKED, describe(refused)
    assert f"another run holds {lock} (pid " in refused.stdout and "not starting" in refused.stdout
    assert time.monotonic() - started < 10 and not (tmp_path / "refused.json").exists()
    assert repair.poll() is None, "the repair run ended before the second run was tried"
    stdout, stderr = repair.communicate(timeout=1200)
    repaired = subprocess.CompletedProcess(repair.args, repair.returncode, stdout, stderr)

    assert repaired.returncode == EXIT_DRIFT, describe(repaired)
    lab1 = report_of(tmp_path, repaired)["hosts"]["lab1"]
    assert set(DRIFT) <= set(lab1["changed"]), lab1
    assert lab1["counts"]["failed"] == 0 and lab1["counts"]["unchanged"] > 0
    assert "lab1: drift, " in repaired.stdout and "repaired" in repaired.stdout
    assert not site_is_edited() and states() == ["active", "active"]
    health = run_on("lab1", "curl -sk --max-time 10 -o /dev/null -w '%{http_code}' "
                            "--resolve lab1.groundwork.test:443:127.0.0.1 https://lab1.groundwork.test/health")
    assert health.stdout == "200", health.stdout + health.stderr

    again = groundwork_converge(tmp_path, "--dry-run")
    assert again.returncode == EXIT_CLEAN, describe(again)
    lab1 = report_of(tmp_path, again)["hosts"]["lab1"]
    assert lab1["status"] == "clean" and lab1["changed"] == [], lab1
    assert "lab1: no drift" in again.stdout
    # The converge's outcome reached lab1 as Prometheus metrics (its backups made the textfile directory).
    assert "metrics: done on 1 host(s)" in again.stdout, describe(again)
    prom = run_on("lab1", "cat /var/lib/prometheus/node-exporter/groundwork_converge.prom").stdout
    samples = dict(line.split() for line in prom.splitlines() if not line.startswith("#"))
    assert samples["groundwork_converge_last_run_success"] == "1", prom
    assert samples["groundwork_converge_last_run_drift"] == "0", prom
    assert abs(int(samples["groundwork_converge_last_run_timestamp_seconds"]) - time.time()) < 600, prom
