"""Firewall: ufw holding exactly the openings the components declared.

The only component that calls ufw (the component records say what to open). It
runs last, after every other component, and never locks the operator out:
the rule for the SSH port the run is connected on is added before anything
else, and ufw is switched on only after it exists.
"""

from __future__ import annotations

import logging
import subprocess

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.operations import python

from ...component import Opening
from ...packages import ensure_packages
from . import operations as ufw
from .settings import FirewallSettings

logger = logging.getLogger("groundwork.firewall")


def ssh_port_in_use(data=None) -> int:
    """The port this run connects on: the inventory's ssh_port, 22 without one."""
    data = host.data if data is None else data
    return int(data.get("ssh_port") or 22)


UFW_PACKAGES = ["ufw"]


@deploy("Firewall")
def deploy_firewall(settings: FirewallSettings, openings: list[Opening], ssh_port: int) -> None:
    in_use = ssh_port_in_use()
    ensure_packages(UFW_PACKAGES, name="Install ufw")
    ufw.firewall(
        name="Make ufw hold the declared openings, default deny",
        openings=openings,
        defaults={
            "incoming": settings.default_incoming,
            "outgoing": settings.default_outgoing,
            "routed": settings.default_routed,
        },
        purge_unmanaged=settings.unmanaged_rules == "purge",
        ssh_port=in_use,
    )
    if ssh_port != in_use:
        python.call(
            name=f"Prove a fresh SSH session on the new port {ssh_port}",
            function=prove_ssh_port, port=ssh_port, in_use=in_use,
        )


def ssh_argv(data, port: int) -> list[str]:
    """ssh on the control machine, with the inventory's user, key and known hosts, to `port`."""
    address = data.get("ssh_hostname") or host.name
    argv = ["ssh", "-p", str(port), "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
            # The host key is recorded for the host's name, not for [name]:port.
            "-o", f"HostKeyAlias={address}", "-o", "StrictHostKeyChecking=yes"]
    if data.get("ssh_key"):
        argv += ["-i", str(data.get("ssh_key")), "-o", "IdentitiesOnly=yes"]
    if data.get("ssh_known_hosts_file"):
        argv += ["-o", f"UserKnownHostsFile={data.get('ssh_known_hosts_file')}"]
    if data.get("ssh_user"):
        argv += ["-l", str(data.get("ssh_user"))]
    return [*argv, address, "true"]


def prove_ssh_port(port: int, in_use: int) -> None:
    proc = subprocess.run(ssh_argv(host.data, port), capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise PyinfraError(
            f"{host.name}: no fresh SSH session on port {port} ({proc.stderr.strip()[-300:]}); "
            f"port {in_use} stays open and in use"
        )
    logger.warning(
        "%s: sshd answers on port %s to a fresh session. Set ssh_port=%s for this host in the "
        "inventory and run again: that run closes port %s.", host.name, port, port, in_use,
    )
