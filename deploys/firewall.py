"""Firewall: ufw with default deny, open only where a component declared it.

    pyinfra inventories/prod.py deploys/firewall.py

Runs on every host, last in deploys/full.py: SSH (base_ssh_port), 80/443 on
`web` hosts, Postgres and Redis only to the other `app`/`worker` hosts, and
Postgres to `replica` hosts (each component declares its own; groundwork.fleet gives the addresses).
"""

from groundwork.runner import deploy_components

deploy_components("firewall")
