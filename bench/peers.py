"""The same operations through groundwork, stock pyinfra and Ansible, on one lab host (issue 16).

    sudo .venv/bin/python bench/peers.py [--runs 5] [--keep]

Run from the repository root, as root. It boots one lab host (lab id "pr" in
.lab-peers/ unless GROUNDWORK_LAB_* say otherwise), installs ansible-core (and
mitogen, if it installs and supports that ansible-core) into a virtualenv of its own
under .bench-ansible/, and times the no-op run of one workload (bench/peers/workload.py:
40 managed files of which 10 unit files, 10 directories, 10 units enabled and running,
30 packages present, 3 users) through:

- groundwork: groundwork's operations, fact cache and one state read, and its pyinfra
  patches (bench/peers/deploy_groundwork.py);
- stock pyinfra: pyinfra's own operations (bench/peers/deploy_pyinfra.py);
- Ansible with pipelining and ControlPersist (a playbook of the same tasks);
- Ansible with mitogen's linear strategy, when mitogen could be installed.

Every tool first converges the host once (and must then report no change); then in
each of --runs rounds every tool runs once, back to back, and the medians are compared
as ratios to groundwork's. Each tool runs from a directory of its own with an inventory
of its own, so none loads the others' code. Lab traffic only: SSH to the lab host.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("GROUNDWORK_LAB_ID", "pr")
os.environ.setdefault("GROUNDWORK_LAB_DIR", str(ROOT / ".lab-peers"))
os.environ.setdefault("GROUNDWORK_LAB_SUBNET", "172.31.216.0/24")  # beside the default lab
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "peers"))

import workload  # noqa: E402

from groundwork.lab import lab  # noqa: E402
from groundwork.lab.state import LabState  # noqa: E402

HOST = "pr1"
PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
ANSIBLE_VENV = ROOT / ".bench-ansible"
ANSIBLE_CORE = "ansible-core"
MITOGEN = "mitogen"


def sh(argv: list[str], *, cwd: Path, env: dict | None = None, timeout: float = 1800) -> tuple[float, int, str]:
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout)
    return time.perf_counter() - started, proc.returncode, proc.stdout + proc.stderr


def host_data(state: LabState) -> dict:
    return {"address": state.hosts[HOST].address, "key": str(state.ssh_key), "known_hosts": str(state.known_hosts)}


# --- pyinfra (groundwork and stock) -----------------------------------------------------------


def write_pyinfra_inventory(directory: Path, data: dict) -> Path:
    inventory = directory / "inventory.py"
    inventory.write_text(
        "hosts = [(%r, {'ssh_hostname': %r, 'ssh_user': 'root', 'ssh_port': 22, 'ssh_key': %r, "
        "'ssh_known_hosts_file': %r, 'ssh_strict_host_key_checking': 'yes'})]\n"
        % (HOST, data["address"], data["key"], data["known_hosts"]))
    return inventory


def pyinfra_run(directory: Path, deploy: str, run_dir: Path) -> tuple[float, bool]:
    """(seconds, changed nothing) of one pyinfra run of `deploy`."""
    seconds, code, out = sh([PYINFRA, "-y", "inventory.py", str(ROOT / "bench" / "peers" / deploy)], cwd=directory,
                            env={"GROUNDWORK_PEERS_DIR": str(run_dir), "PYTHONPATH": str(ROOT)})
    if code != 0:
        raise SystemExit(f"peers: pyinfra {deploy} failed (exit {code}):\n{out[-3000:]}")
    total = next((line.split()[2:] for line in reversed(out.splitlines()) if "Grand total" in line), None)
    return seconds, total is not None and total[1] == "-"


# --- Ansible ----------------------------------------------------------------------------------


def install_ansible() -> bool:
    """ansible-core in a virtualenv of its own; True if mitogen installed and works with it."""
    python = ANSIBLE_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(ANSIBLE_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", ANSIBLE_CORE], check=True)
    mitogen = subprocess.run([str(python), "-m", "pip", "install", "-q", MITOGEN], capture_output=True, text=True)
    return mitogen.returncode == 0


def ansible_version() -> str:
    out = subprocess.run([str(ANSIBLE_VENV / "bin" / "ansible-playbook"), "--version"], capture_output=True, text=True)
    return out.stdout.splitlines()[0] if out.stdout else "?"


def mitogen_strategy_dir() -> Path | None:
    found = list((ANSIBLE_VENV / "lib").glob("python3*/site-packages/ansible_mitogen/plugins/strategy"))
    return found[0] if found else None


def playbook(run_dir: Path, packages: list[str]) -> str:
    """The workload as Ansible tasks, one module call per item, as pyinfra has one operation per item."""
    tasks = [
        {"name": "Packages", "ansible.builtin.apt": {"name": packages, "state": "present",
                                                      "install_recommends": False}},
        {"name": "Users", "ansible.builtin.user": {"name": "{{ item }}", "system": True,
                                                   "shell": "/usr/sbin/nologin", "home": "/nonexistent",
                                                   "create_home": False},
         "loop": workload.USERS},
        {"name": "Directories", "ansible.builtin.file": {"path": "{{ item }}", "state": "directory",
                                                         "owner": "root", "group": "root", "mode": "0755"},
         "loop": workload.DIRECTORIES},
        {"name": "Files", "ansible.builtin.copy": {"src": "{{ item.0 }}", "dest": "{{ item.1 }}", "owner": "root",
                                                   "group": "root", "mode": "0644"},
         "loop": [[str(run_dir / local), remote] for local, remote in workload.FILES]},
        {"name": "Unit files", "ansible.builtin.copy": {
            "src": str(run_dir / "units") + "/{{ item }}.service", "dest": "/etc/systemd/system/{{ item }}.service",
            "owner": "root", "group": "root", "mode": "0644"},
         "loop": workload.UNITS, "register": "unit_files"},
        {"name": "Reload systemd", "ansible.builtin.systemd_service": {"daemon_reload": True},
         "when": "unit_files is changed"},
        {"name": "Units", "ansible.builtin.systemd_service": {"name": "{{ item }}.service", "state": "started",
                                                             "enabled": True},
         "loop": workload.UNITS},
    ]
    return json.dumps([{"hosts": "all", "gather_facts": False, "tasks": tasks}], indent=1)  # JSON is YAML


def write_ansible_dir(directory: Path, data: dict, run_dir: Path, packages: list[str], mitogen: Path | None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "inventory.ini").write_text(
        f"{HOST} ansible_host={data['address']} ansible_user=root ansible_python_interpreter=/usr/bin/python3\n")
    control = directory / "cp"
    control.mkdir(exist_ok=True)
    strategy = f"strategy_plugins = {mitogen}\nstrategy = mitogen_linear\n" if mitogen else ""
    (directory / "ansible.cfg").write_text(
        "[defaults]\ninventory = inventory.ini\nhost_key_checking = True\nretry_files_enabled = False\n"
        f"private_key_file = {data['key']}\n{strategy}"
        "[ssh_connection]\npipelining = True\n"
        f"control_path_dir = {control}\n"
        f"ssh_args = -o ControlMaster=auto -o ControlPersist=120s -o UserKnownHostsFile={data['known_hosts']} "
        "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes\n")
    (directory / "playbook.yml").write_text(playbook(run_dir, packages))


def ansible_run(directory: Path) -> tuple[float, bool]:
    seconds, code, out = sh([str(ANSIBLE_VENV / "bin" / "ansible-playbook"), "playbook.yml"], cwd=directory,
                            env={"ANSIBLE_CONFIG": str(directory / "ansible.cfg")})
    if code != 0:
        raise SystemExit(f"peers: ansible-playbook in {directory.name} failed (exit {code}):\n{out[-3000:]}")
    recap = re.search(r"changed=(\d+)", out)
    return seconds, recap is not None and recap.group(1) == "0"


# --- the bench --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds of side-by-side no-op runs (median)")
    parser.add_argument("--keep", action="store_true", help="leave the lab host up at the end")
    args = parser.parse_args()
    os.chdir(ROOT)
    with_mitogen = install_ansible()
    print(f"peers: {ansible_version()}; mitogen {'installed' if with_mitogen else 'did not install'}", flush=True)
    lab.up([HOST])
    try:
        bench(args, with_mitogen)
    finally:
        if not args.keep:
            lab.down()


def bench(args, with_mitogen: bool) -> None:
    state = LabState.load()
    data = host_data(state)
    packages = lab.run_on(HOST, "dpkg-query -W -f '${Package}\\n' | sort | head -n 30").stdout.split()
    with tempfile.TemporaryDirectory(prefix="groundwork-peers-") as tmp:
        base = Path(tmp)
        run_dir = base / "workload"
        workload.write(run_dir, packages)
        tools: dict[str, callable] = {}
        for name, deploy in (("groundwork", "deploy_groundwork.py"), ("stock pyinfra", "deploy_pyinfra.py")):
            directory = base / name.replace(" ", "-")
            directory.mkdir()
            write_pyinfra_inventory(directory, data)
            tools[name] = lambda directory=directory, deploy=deploy: pyinfra_run(directory, deploy, run_dir)
        write_ansible_dir(base / "ansible", data, run_dir, packages, None)
        tools["Ansible (pipelining, ControlPersist)"] = lambda: ansible_run(base / "ansible")
        strategy = mitogen_strategy_dir() if with_mitogen else None
        if strategy is not None:
            write_ansible_dir(base / "ansible-mitogen", data, run_dir, packages, strategy)
            tools["Ansible + mitogen"] = lambda: ansible_run(base / "ansible-mitogen")

        # The first run converges (groundwork's); every tool then runs once before timing and must change nothing.
        first = tools["groundwork"]()
        print(f"first converge (groundwork): {first[0]:.1f} s", flush=True)
        for name, tool in list(tools.items()):
            try:
                seconds, unchanged = tool()
            except SystemExit as exc:
                if name == "Ansible + mitogen":
                    print(f"peers: mitogen did not run with this ansible-core, left out: {str(exc)[-400:]}", flush=True)
                    del tools[name]
                    continue
                raise
            if not unchanged:
                raise SystemExit(f"peers: {name} changed something on a converged host (its tasks are not "
                                 "the same as groundwork's)")
        times: dict[str, list[float]] = {name: [] for name in tools}
        for _ in range(args.runs):
            for name, tool in tools.items():
                seconds, unchanged = tool()
                if not unchanged:
                    raise SystemExit(f"peers: {name} changed something in a timed run")
                times[name].append(seconds)
        medians = {name: statistics.median(values) for name, values in times.items()}
        ours = medians["groundwork"]
        print(f"no-op of the same workload on {HOST} ({len(workload.FILES) + len(workload.UNITS)} files, "
              f"{len(workload.DIRECTORIES)} directories, {len(workload.UNITS)} units, {len(packages)} packages, "
              f"{len(workload.USERS)} users); medians of {args.runs} rounds:")
        for name, values in times.items():
            runs = ", ".join(f"{v:.2f}" for v in values)
            print(f"  {name:40s} {medians[name]:6.2f} s  {medians[name] / ours:5.2f}x groundwork  (runs: {runs})")
        if "Ansible + mitogen" in medians:
            ratio = medians["Ansible + mitogen"] / ours
            print(f"target: groundwork >= 3x faster than Ansible with mitogen: {ratio:.2f}x "
                  f"({'met' if ratio >= 3 else 'missed'})")
    shutil.rmtree(ANSIBLE_VENV / "cp", ignore_errors=True)


if __name__ == "__main__":
    main()
