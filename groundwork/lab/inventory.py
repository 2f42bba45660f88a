"""The lab's hosts as pyinfra inventory groups."""

from __future__ import annotations

from .acme import ca_bundle, directory_url, root_file
from .state import LabState, lab_dir
from .system import LabError


def lab_groups() -> dict[str, list[tuple[str, dict]]]:
    state = LabState.load()
    if state is None or not state.hosts:
        raise LabError(f"no lab is running ({lab_dir()}/state.json); run `groundwork lab up`")
    groups: dict[str, list[tuple[str, dict]]] = {"lab": []}
    # An admin user whose key is the lab's own (the inventory keeps connecting as root).
    public_key = state.ssh_key.with_name(state.ssh_key.name + ".pub")
    admins = [{"name": "ops", "ssh_keys": [public_key.read_text().strip()]}] if public_key.exists() else []
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
                # The lab's own ACME CA (pebble on the gateway) and its name for the host.
                "certbot_server": directory_url(state),
                "certbot_ca_bundle": str(ca_bundle(state)),
                "nginx_server_names": [f"{host.name}.groundwork.test"],
                # Prometheus' site probes verify the certificates pebble issued.
                **({"monitoring_probe_ca_bundle": str(root_file(state))} if root_file(state).exists() else {}),
                "base_admin_users": admins,
            },
        )
        for group in ["lab", *host.groups]:
            groups.setdefault(group, []).append(entry)
    return groups
