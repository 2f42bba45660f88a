"""End-to-end tests: real lab hosts, booted once per session, always torn down."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from groundwork.lab import lab
from groundwork.lab.image import ensure_image
from groundwork.lab.system import ensure_lab_tools
from groundwork.testing.converge import converge
from groundwork.testing.lynis import audit

# Each late module brings up the lab it needs and leaves it for the next one to replace.
# The three baseline modules share one lab (baseline_pair), in this order:
# test_ssh_port moves lab1's SSH port, so it comes last of them.
LATE_MODULES = ["test_postgres.py", "test_redis.py", "test_backups.py", "test_firewall.py", "test_lynis.py",
                "test_ssh_port.py", "test_replication.py", "test_fleet.py", "test_djangoapp.py", "test_lab_lifecycle.py"]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)
    # Modules that replace the shared lab run after those that use it as the
    # full stack left it; the lab's own life-cycle tests take it down: last.
    items.sort(key=lambda item: LATE_MODULES.index(item.path.name)
               if "tests/e2e/" in str(item.path) and item.path.name in LATE_MODULES else -1)


@pytest.fixture(scope="session")
def lab_hosts(debian12_image):
    if os.geteuid() != 0:
        pytest.fail("the e2e tests boot lab hosts and need root")
    state = lab.up(["lab1"])
    try:
        yield state
    finally:
        lab.down()


@pytest.fixture(scope="session")
def debian12_image():
    """The Debian 12 image (test_djangoapp's host), built by debootstrap in the
    background while the first modules converge; `.result()` waits for it."""
    if os.geteuid() == 0:
        ensure_lab_tools()  # debootstrap among them, before the thread needs it
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool.submit(ensure_image, "bookworm")



@pytest.fixture(scope="session")
def full_stack(lab_hosts):
    """The first converge of deploys/full.py on the fresh lab host."""
    result = converge("inventories/lab.py", "deploys/full.py")
    assert result.ok, result.describe()
    return result


BASELINE_SPECS = ["lab1:db,cache,app,worker,web", "lab2:probe"]


def converge_baseline(**kwargs):
    """deploys/base.py, then deploys/firewall.py: what every host gets."""
    base = converge("inventories/lab.py", "deploys/base.py", **kwargs)
    assert base.ok, base.describe()
    firewall = converge("inventories/lab.py", "deploys/firewall.py", **kwargs)
    assert firewall.ok, firewall.describe()
    return base, firewall


@pytest.fixture(scope="session")
def baseline_pair(lab_hosts):
    """lab1 runs the whole stack alone (every role), lab2 plays none: lab2's
    lynis audit is taken while both are fresh, then both get the baseline
    (base and firewall) and lab1 is audited (Debian 13's figure, which
    test_djangoapp compares its Debian 12 host with). Shared by test_firewall, test_lynis and test_ssh_port,
    which run one after the other (LATE_MODULES); the next module replaces the lab."""
    lab.up(BASELINE_SPECS)
    fresh_audit = audit("lab2")
    base, firewall = converge_baseline(timeout=900)
    return {"fresh_audit": fresh_audit, "converged_audit": audit("lab1"), "base": base, "firewall": firewall}
