"""Redis: redis-server with ACL users, maxmemory, AOF and RDB snapshots.

    pyinfra inventories/prod.py deploys/redis.py

Runs on the hosts in the `cache` group (every host when there is none).
"""

from pyinfra import host

from groundwork.deploy import settings_for
from groundwork.stack import run_redis

run_redis(settings_for(host, deploying=["redis"]))
