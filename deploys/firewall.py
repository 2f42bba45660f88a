"""Firewall: ufw with default deny, open only where a component declared it.

    pyinfra inventories/prod.py deploys/firewall.py

Runs on every host, last in deploys/full.py: SSH (base_ssh_port), 80/443 on
`web` hosts, Postgres and Redis only to the other `app`/`worker` hosts, and
Postgres to `replica` hosts (groundwork.ports, groundwork.datatier). Host addresses: host data `private_address`, else `ssh_hostname`.
"""

from pyinfra import host

from groundwork.deploy import settings_for
from groundwork.stack import run_firewall

run_firewall(settings_for(host, deploying=["firewall"]))
