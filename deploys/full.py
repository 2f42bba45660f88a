"""The whole stack, component by component, in dependency order.

    pyinfra inventories/prod.py deploys/full.py

Hosts in the `db` group get PostgreSQL and its backups, `cache` Redis, `app`
the web app, `worker` Celery, `web` nginx with its certificate; with no such
group in the inventory, every host gets them (groundwork.fleet). Hosts in
`backup` receive the off-host copies; hosts in `replica` run Postgres as hot
standbys of the `db` host. The firewall comes last, once every
component has declared the ports it needs (groundwork.components).
"""

from groundwork.runner import deploy_components

deploy_components()
