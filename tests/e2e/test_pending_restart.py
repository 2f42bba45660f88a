"""A config written by a run that died before the restart is applied by the next run."""

from __future__ import annotations

import pytest

from groundwork.changes import marker_path
from groundwork.lab.lab import run_on as lab_ssh
from groundwork.testing.converge import converge

LAB_INVENTORY = "inventories/lab.py"

DEPLOY = "tests/e2e/deploys/pending_restart.py"
MARKER = marker_path("gw-probe", "restart")


def running_probe_value() -> str:
    """PROBE as the running process sees it: proof of which config it started with."""
    out = lab_ssh(
        "lab1",
        "tr '\\0' '\\n' < /proc/$(systemctl show -p MainPID --value gw-probe)/environ | grep '^PROBE='",
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.fixture
def probe(lab_hosts):
    yield
    lab_ssh("lab1", f"systemctl disable --now gw-probe; rm -f /etc/systemd/system/gw-probe.service /etc/gw-probe.env {MARKER} "
                    "/var/lib/groundwork/previous/etc/gw-probe.env*; systemctl daemon-reload")


def test_restart_pending_from_a_failed_run_happens_on_the_next_run(probe):
    first = converge(LAB_INVENTORY, DEPLOY, data={"probe_value": 1})
    assert first.ok, first.describe()
    assert running_probe_value() == "PROBE=1"

    died = converge(LAB_INVENTORY, DEPLOY, data={"probe_value": 2, "probe_fail_before_restart": 1})
    assert died.returncode != 0
    # pyinfra stops a failed host there and prints no results: read its log.
    assert "[lab1] Error" in died.stderr, died.describe()
    assert "Starting operation: Restart gw-probe" not in died.stderr
    assert lab_ssh("lab1", "cat /etc/gw-probe.env").stdout == "PROBE=2\n"
    assert lab_ssh("lab1", f"test -e {MARKER}").returncode == 0
    assert running_probe_value() == "PROBE=1"  # the old config is still live

    resumed = converge(LAB_INVENTORY, DEPLOY, data={"probe_value": 2})
    assert resumed.ok, resumed.describe()
    assert resumed.changed == {"lab1": ["Restart gw-probe (pending from an earlier run)"]}, resumed.describe()
    assert running_probe_value() == "PROBE=2"
    assert lab_ssh("lab1", f"test -e {MARKER}").returncode == 1

    settled = converge(LAB_INVENTORY, DEPLOY, data={"probe_value": 2})
    assert settled.ok, settled.describe()
    assert settled.changed == {}, settled.describe()


def test_a_config_refused_by_its_checker_goes_back_and_the_old_one_keeps_running(probe):
    assert converge(LAB_INVENTORY, DEPLOY, data={"probe_value": 1}).ok
    # The checker wants a number; "broken" must never reach the running probe, nor stay on disk.
    broken = converge(LAB_INVENTORY, DEPLOY, data={"probe_value": "broken"}, json_output=False)
    assert broken.returncode != 0
    assert "the new config of gw-probe is refused by its checker" in broken.stderr, broken.describe()
    assert "gw-probe keeps running its previous config" in broken.stderr
    assert running_probe_value() == "PROBE=1"
    assert lab_ssh("lab1", "cat /etc/gw-probe.env").stdout == "PROBE=1\n"
    assert lab_ssh("lab1", f"test -e {MARKER}").returncode == 1
    # Nothing is left pending: the old settings converge to no change.
    settled = converge(LAB_INVENTORY, DEPLOY, data={"probe_value": 1})
    assert settled.ok and settled.changed == {}, settled.describe()


def test_a_first_config_refused_by_its_checker_is_removed_so_the_next_run_retries(probe):
    # Was: a file new with the change stayed on disk after the refusal, so the next run saw it
    # unchanged and never restarted (Postgres' first restart on Debian 12 lost that way).
    broken = converge(LAB_INVENTORY, DEPLOY, data={"probe_value": "broken"}, json_output=False)
    assert broken.returncode != 0
    assert "gw-probe keeps running its previous config" in broken.stderr, broken.describe()
    assert lab_ssh("lab1", "test -e /etc/gw-probe.env").returncode == 1  # as before the run: no file
    assert lab_ssh("lab1", f"test -e {MARKER}").returncode == 1
    fixed = converge(LAB_INVENTORY, DEPLOY, data={"probe_value": 1})
    assert fixed.ok, fixed.describe()
    assert "Restart gw-probe" in fixed.changed["lab1"], fixed.describe()
    assert running_probe_value() == "PROBE=1"
    settled = converge(LAB_INVENTORY, DEPLOY, data={"probe_value": 1})
    assert settled.ok and settled.changed == {}, settled.describe()
