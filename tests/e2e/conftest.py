"""End-to-end tests: real lab hosts, booted once per session, always torn down."""

from __future__ import annotations

import os

import pytest

from groundwork.lab import lab
from groundwork.testing.converge import converge

LATE_MODULES = ["test_postgres.py", "test_redis.py", "test_backups.py", "test_firewall.py", "test_ssh_port.py", "test_lynis.py", "test_replication.py", "test_fleet.py", "test_djangoapp.py", "test_lab_lifecycle.py"]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)
    # Modules that replace the shared lab run after those that use it as the
    # full stack left it; the lab's own life-cycle tests take it down: last.
    items.sort(key=lambda item: LATE_MODULES.index(item.path.name) if item.path.name in LATE_MODULES else -1)


@pytest.fixture(scope="session")
def lab_hosts():
    if os.geteuid() != 0:
        pytest.fail("the e2e tests boot lab hosts and need root")
    state = lab.up(["lab1"])
    try:
        yield state
    finally:
        lab.down()



@pytest.fixture(scope="session")
def full_stack(lab_hosts):
    """The first converge of deploys/full.py on the fresh lab host."""
    result = converge("inventories/lab.py", "deploys/full.py")
    assert result.ok, result.describe()
    return result
