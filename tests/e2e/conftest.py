"""End-to-end tests: real lab hosts, booted once per session, always torn down."""

from __future__ import annotations

import os

import pytest

from groundwork.lab import lab


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)
    # The lab's own life-cycle tests take the shared lab down: run them last.
    items.sort(key=lambda item: item.path.name == "test_lab_lifecycle.py")


@pytest.fixture(scope="session")
def lab_hosts():
    if os.geteuid() != 0:
        pytest.fail("the e2e tests boot lab hosts and need root")
    state = lab.up(["lab1"])
    try:
        yield state
    finally:
        lab.down()

