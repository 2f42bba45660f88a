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


def packages() -> list[str]:
    return json.loads((run_dir() / "packages.json").read_text())
