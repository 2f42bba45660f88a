"""Redis: redis-server with ACL users, maxmemory, AOF and RDB snapshots.

    pyinfra inventories/prod.py deploys/redis.py

Runs on the hosts in the `cache` group (every host when there is none).
"""

from pyinfra import host

from groundwork.components.redis import deploy_redis
from groundwork.deploy import settings_for
from groundwork.topology import host_has_role

settings = settings_for(host, deploying=["redis"])

if host_has_role(host, "cache"):
    deploy_redis(settings.redis)
