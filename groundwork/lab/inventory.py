"""The lab's hosts as pyinfra inventory groups."""

from __future__ import annotations

from .state import LabState, lab_dir
from .system import LabError


def lab_groups() -> dict[str, list[tuple[str, dict]]]:
    state = LabState.load()
    if state is None or not state.hosts:
        raise LabError(f"no lab is running ({lab_dir()}/state.json); run `groundwork lab up`")
    groups: dict[str, list[tuple[str, dict]]] = {"lab": []}
    for host in state.hosts.values():
        entry = (
            host.name,
            {
                "ssh_hostname": host.address,
                "ssh_user": "root",
                "ssh_port": 22,
                "ssh_key": str(state.ssh_key),
                "ssh_known_hosts_file": str(state.known_hosts),
                "ssh_strict_host_key_checking": "yes",
                "base_hostname": host.name,
            },
        )
        for group in ["lab", *host.groups]:
            groups.setdefault(group, []).append(entry)
    return groups
