"""Moving SSH from 22 to 2222 without lock-out, on lab1 of the baseline pair
(conftest.py), a host with the baseline converged, as an operator moves it.

Step 1 (inventory still on 22, base_ssh_port=2222): sshd listens on both,
ufw opens both, the run proves a fresh session on 2222. Step 2 (the inventory
moved: ssh_port=2222): 22 is closed. A fresh connection on 2222 works after
every step.
"""

from __future__ import annotations

import subprocess

import pytest

from groundwork.lab.state import LabState
from groundwork.testing.converge import converge

LAB_INVENTORY = "inventories/lab.py"
NEW_PORT = 2222


def fresh_ssh(port: int) -> subprocess.CompletedProcess:
    state = LabState.load()
    address = state.hosts["lab1"].address
    return subprocess.run(
        ["ssh", "-p", str(port), "-i", str(state.ssh_key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
         "-o", f"UserKnownHostsFile={state.known_hosts}", "-o", f"HostKeyAlias={address}",
         "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=5", "-o", "ControlPath=none",
         f"root@{address}", "echo fresh"],
        capture_output=True, text=True, timeout=30, check=False,
    )


def converge_steps(data: dict):
    for deploy in ("deploys/base.py", "deploys/firewall.py"):
        result = converge(LAB_INVENTORY, deploy, data=data, timeout=900, json_output=False,
                          extra_args=["--limit", "lab1"])
        assert result.ok, result.describe()
        yield result


@pytest.fixture(scope="module")
def moved_lab1(baseline_pair):
    # lab1 no longer answers on 22, which the lab's inventory uses: the next module starts a lab of its own.
    yield


def test_port_move_in_two_runs(moved_lab1):
    step1 = list(converge_steps({"base_ssh_port": NEW_PORT}))
    assert f"Prove a fresh SSH session on the new port {NEW_PORT}" in step1[1].stderr
    assert f"Set ssh_port={NEW_PORT} for this host in the inventory" in step1[1].stderr
    assert fresh_ssh(NEW_PORT).stdout.strip() == "fresh"
    assert fresh_ssh(22).stdout.strip() == "fresh"  # the old port stays until the inventory moves

    # What the operator does with the inventory's port: known_hosts needs the
    # host key under [address]:2222 too (ssh looks it up by port).
    state = LabState.load()
    address = state.hosts["lab1"].address
    key = next(line.split(" ", 1)[1] for line in state.known_hosts.read_text().splitlines() if address in line.split(" ")[0])
    with state.known_hosts.open("a") as known:
        known.write(f"[{address}]:{NEW_PORT} {key}\n")
    list(converge_steps({"base_ssh_port": NEW_PORT, "ssh_port": NEW_PORT}))
    assert fresh_ssh(NEW_PORT).stdout.strip() == "fresh"
    closed = fresh_ssh(22)
    assert closed.returncode != 0 and "fresh" not in closed.stdout
    address = LabState.load().hosts["lab1"].address
    ufw = subprocess.run(
        ["ssh", "-p", str(NEW_PORT), "-i", str(LabState.load().ssh_key), "-o", "IdentitiesOnly=yes",
         "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={LabState.load().known_hosts}",
         "-o", f"HostKeyAlias={address}", f"root@{address}", "ufw status; sshd -T | grep '^port '"],
        capture_output=True, text=True, timeout=30, check=False,
    ).stdout
    lines = ufw.splitlines()
    assert not [line for line in lines if line.startswith("22/tcp")], ufw
    assert [line for line in lines if line.startswith(f"{NEW_PORT}/tcp")], ufw
    assert "port 22" not in lines and f"port {NEW_PORT}" in lines, ufw
