"""The whole stack, component by component, in dependency order.

    pyinfra inventories/prod.py deploys/full.py

Hosts in the `db` group get PostgreSQL, hosts in `cache` get Redis; with no
such group in the inventory, every host gets them (groundwork.topology).
"""

from pyinfra import host

from groundwork.components.base import deploy_base
from groundwork.components.postgres import deploy_postgres
from groundwork.components.redis import deploy_redis
from groundwork.deploy import settings_for
from groundwork.topology import host_has_role

settings = settings_for(host)

deploy_base(settings.base)
if host_has_role(host, "db"):
    deploy_postgres(settings.postgres)
if host_has_role(host, "cache"):
    deploy_redis(settings.redis)
