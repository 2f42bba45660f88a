"""Firewall: ufw with default deny, open only where a component declared it.

    pyinfra inventories/prod.py deploys/firewall.py

Runs on every host, last in deploys/full.py: SSH (base_ssh_port), 80/443 on
`web` hosts, Postgres and Redis only to the other `app`/`worker` hosts
(groundwork.ports). Host addresses: host data `private_address`, else `ssh_hostname`.
"""

from pyinfra import host
from pyinfra.context import inventory

from groundwork.components.firewall import deploy_firewall, ssh_port_in_use
from groundwork.deploy import settings_for
from groundwork.ports import Peer, host_address, openings
from groundwork.topology import roles_of

settings = settings_for(host, deploying=["firewall"])

if settings.firewall.enabled:
    peers = [Peer(host_address(h.data), roles_of(h)) for h in inventory if h.name != host.name]
    in_use = ssh_port_in_use()
    deploy_firewall(
        settings.firewall,
        openings(settings, roles_of(host), peers, in_use),
        ssh_port=settings.base.ssh_port or in_use,
    )
