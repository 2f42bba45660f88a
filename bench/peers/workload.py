"""The peer bench's workload: what every tool is told to manage, identically.

30 files in 10 directories, 10 systemd units (unit file, enabled, running; the unit
files make 40 managed files), 30 packages present, 3 users. The file contents and
package list are written to the run directory by bench/peers.py (`write`) and read
back by each tool's deploy from GROUNDWORK_PEERS_DIR.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

DIRECTORIES = [f"/srv/gw-peers/d{i}" for i in range(10)]
FILES = [(f"files/f{i}.conf", f"{DIRECTORIES[i % 10]}/f{i}.conf") for i in range(30)]
UNITS = [f"gw-peer-{i}" for i in range(10)]
USERS = [f"gwpeer{i}" for i in range(3)]

UNIT_TEXT = """[Unit]
Description=groundwork peer bench unit {i}

[Service]
ExecStart=/bin/sleep infinity

[Install]
WantedBy=multi-user.target
"""


def run_dir() -> Path:
    return Path(os.environ["GROUNDWORK_PEERS_DIR"])


def write(directory: Path, packages: list[str]) -> None:
    (directory / "files").mkdir(parents=True, exist_ok=True)
    (directory / "units").mkdir(parents=True, exist_ok=True)
    for i, (local, _) in enumerate(FILES):
        (directory / local).write_text(f"# peer bench file {i}\n" + "".join(f"key{j} = value {i}-{j}\n" for j in range(40)))
    for i, unit in enumerate(UNITS):
        (directory / "units" / f"{unit}.service").write_text(UNIT_TEXT.format(i=i))
    (directory / "packages.json").write_text(json.dumps(packages))


def package_names() -> list[str]:
    return json.loads((run_dir() / "packages.json").read_text())


def apply(files, server, systemd, present) -> None:
    """The workload as operations: `files`, `server` and `systemd` are a tool's operation
    modules (groundwork's or pyinfra's), `present(names)` its way to have packages present.
    One function for every pyinfra-based tool, so each runs exactly the same operations."""
    run = run_dir()
    present(package_names())
    for user in USERS:
        server.user(name=f"User {user}", user=user, system=True, shell="/usr/sbin/nologin", home="/nonexistent",
                    ensure_home=False)
    for directory in DIRECTORIES:
        files.directory(name=f"Directory {directory}", path=directory, user="root", group="root", mode="0755")
    for local, remote in FILES:
        files.put(name=f"File {remote}", src=str(run / local), dest=remote, user="root", group="root", mode="0644")
    for unit in UNITS:
        unit_file = files.put(name=f"Unit file {unit}", src=str(run / "units" / f"{unit}.service"),
                              dest=f"/etc/systemd/system/{unit}.service", user="root", group="root", mode="0644")
        systemd.daemon_reload(name=f"Reload systemd for {unit}", _if=unit_file.did_change)
        systemd.service(name=f"Unit {unit}", service=f"{unit}.service", running=True, enabled=True)
