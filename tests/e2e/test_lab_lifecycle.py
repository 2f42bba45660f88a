"""The lab itself: several hosts that reach each other, crash recovery, a clean down.

These tests take the lab down, so tests/e2e/conftest.py runs them last.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from groundwork.lab import lab, network
from groundwork.lab.state import LabState, lab_dir

GROUNDWORK = str(Path(sys.executable).with_name("groundwork"))


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([GROUNDWORK, "lab", *args], capture_output=True, text=True, timeout=timeout)


def lab_leftovers() -> list[str]:
    """Everything of the lab that `down` must remove: namespaces, links, processes."""
    left = [f"netns {n}" for n in network.list_lab_netns()]
    links = json.loads(subprocess.run(["ip", "-j", "link"], capture_output=True, text=True).stdout)
    left += [f"link {l['ifname']}" for l in links if l["ifname"] == network.BRIDGE or l["ifname"].startswith(network.VETH_PREFIX)]
    for pid_dir in Path("/proc").iterdir():
        if pid_dir.name.isdigit():
            try:
                cmdline = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                state = (pid_dir / "stat").read_text().split()[2]
            except OSError:
                continue
            if str(lab_dir()) in cmdline and state != "Z":
                left.append(f"process {pid_dir.name}: {cmdline[:80]}")
    return left


@pytest.fixture
def lab_cli(lab_hosts):
    """The session's lab is replaced here; whatever happens, it ends down."""
    yield
    lab.down(quiet=True)


def test_two_hosts_with_groups_reach_each_other_and_status_describes_them(lab_cli):
    up = cli("up", "db1:db,cache", "app1:app")
    assert up.returncode == 0, up.stderr
    info = json.loads(cli("status", "--json").stdout)
    hosts = {h["name"]: h for h in info["hosts"]}
    assert set(hosts) == {"db1", "app1"}
    assert hosts["db1"]["groups"] == ["db", "cache"] and hosts["app1"]["groups"] == ["app"]
    assert all(h["running"] and h["ssh_user"] == "root" and h["ssh_port"] == 22 for h in hosts.values())
    assert Path(hosts["db1"]["ssh_key"]).exists()

    reach = cli("ssh", "app1", "python3", "-c",
                f"'import socket; socket.create_connection((\"{hosts['db1']['address']}\", 22), 5); print(\"ok\")'")
    assert reach.returncode == 0 and reach.stdout.strip() == "ok", reach.stderr
    assert cli("ssh", "db1", "exit 7").returncode == 7
    # No route out of the lab: only the lab subnet is reachable.
    routes = cli("ssh", "db1", "ip -4 route").stdout.strip().splitlines()
    assert routes == [f"{info['subnet']} dev eth0 proto kernel scope link src {hosts['db1']['address']}"]


def test_up_after_a_crash_cleans_up_then_down_leaves_nothing(lab_cli):
    assert cli("up", "--hosts", "2").returncode == 0
    assert len(json.loads(cli("status", "--json").stdout)["hosts"]) == 2
    # A crash that lost the state file: PIDs unknown, namespaces and hosts still there.
    (lab_dir() / "state.json").unlink()
    assert lab_leftovers() != []

    again = cli("up")
    assert again.returncode == 0, again.stderr
    assert [h["name"] for h in json.loads(cli("status", "--json").stdout)["hosts"]] == ["lab1"]
    assert sorted(network.list_lab_netns()) == [f"{network.NETNS_PREFIX}lab1"]

    assert cli("down").returncode == 0
    assert lab_leftovers() == []
    assert LabState.load() is None
    assert cli("status").stdout.strip() == "lab: not running"


def test_unknown_host_and_bad_names_are_refused(lab_cli):
    bad = cli("up", "Lab_1")
    assert bad.returncode == 1
    assert "host name 'Lab_1': expected a lowercase letter then up to 11 letters/digits" in bad.stderr
    missing = cli("ssh", "nosuch", "true")
    assert missing.returncode == 1 and "no lab host named 'nosuch'" in missing.stderr
