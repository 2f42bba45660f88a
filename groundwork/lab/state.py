"""The lab's state file: what `up` started, so that `down` stops exactly that."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_SUBNET = "172.31.213.0/24"


def lab_dir() -> Path:
    """Where the lab keeps its state, keys and host trees (git-ignored)."""
    return Path(os.environ.get("GROUNDWORK_LAB_DIR", Path.cwd() / ".lab")).resolve()


def cache_dir() -> Path:
    """Where the debootstrap image and apt packages are cached across runs."""
    return Path(os.environ.get("GROUNDWORK_CACHE_DIR", "/var/cache/groundwork")).resolve()


@dataclass
class LabHost:
    name: str
    address: str
    groups: list[str] = field(default_factory=list)
    pid: int | None = None
    suite: str = "trixie"  # the Debian suite its image is of


@dataclass
class LabState:
    subnet: str
    gateway: str
    bridge: str
    hosts: dict[str, LabHost] = field(default_factory=dict)
    services: dict[str, int] = field(default_factory=dict)  # name -> pid

    @property
    def dir(self) -> Path:
        return lab_dir()

    @property
    def ssh_key(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.dir / "ssh_config"

    def host_dir(self, name: str) -> Path:
        return self.dir / "hosts" / name

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / "state.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls) -> LabState | None:
        path = lab_dir() / "state.json"
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        hosts = {name: LabHost(**h) for name, h in raw.pop("hosts", {}).items()}
        return cls(hosts=hosts, **raw)

    @staticmethod
    def remove() -> None:
        (lab_dir() / "state.json").unlink(missing_ok=True)
