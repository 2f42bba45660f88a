"""deploys/base.py + deploys/firewall.py on two lab hosts (the baseline pair,
conftest.py), lab1 a one-host stack (every role) and lab2 a bystander: what
the gateway (this machine) and lab2 can reach on lab1, re-converge, verify.

Nothing listens on 80/443 before nginx: "reachable" there means the firewall
accepts the SYN and the host answers with a reset ("refused"); a port the
firewall drops times out ("TimeoutError": filtered).
"""

from __future__ import annotations

import socket

import pytest

from groundwork.lab import lab
from groundwork.lab.state import LabState
from groundwork.testing.converge import converge
from groundwork.testing.verify import run_verify

LAB_INVENTORY = "inventories/lab.py"
HOSTS = ["lab1", "lab2"]


def probe_from_gateway(address: str, port: int, timeout: float = 3) -> str:
    try:
        socket.create_connection((address, port), timeout).close()
    except ConnectionRefusedError:
        return "refused"
    except OSError as exc:
        return type(exc).__name__
    return "open"


@pytest.fixture(scope="module")
def converged(baseline_pair):
    return baseline_pair["base"], baseline_pair["firewall"]


def test_first_converge_enables_ufw(converged):
    _, firewall = converged
    for name in HOSTS:
        assert "Firewall | Make ufw hold the declared openings, default deny" in firewall.changed[name]


def test_second_converge_changes_nothing(converged):
    base = converge(LAB_INVENTORY, "deploys/base.py", timeout=600)
    firewall = converge(LAB_INVENTORY, "deploys/firewall.py", timeout=600)
    assert base.ok and firewall.ok, base.describe() + firewall.describe()
    assert base.changed == {} and firewall.changed == {}, base.describe() + firewall.describe()


@pytest.mark.parametrize(("port", "expected"), [(22, "open"), (80, "refused"), (443, "refused"),
                                                (5432, "TimeoutError"), (6379, "TimeoutError")])
def test_ports_from_the_gateway_and_the_other_host(converged, port, expected):
    lab1 = LabState.load().hosts["lab1"].address
    assert probe_from_gateway(lab1, port) == expected
    assert lab.probe_tcp("lab2", lab1, port) == expected


def test_ufw_default_denies_incoming(converged):
    out = lab.run_on("lab1", "ufw status verbose").stdout
    assert "Status: active" in out
    assert "Default: deny (incoming), allow (outgoing)" in out


def test_verify_suite_passes_against_the_lab(converged):
    summary = run_verify("tests/verify/test_firewall.py", "tests/verify/test_sshd.py", inventory=LAB_INVENTORY)
    assert "failed" not in summary
