"""Redis: redis-server with ACL users, maxmemory, AOF and RDB snapshots.

    pyinfra inventories/prod.py deploys/redis.py

Runs on the hosts in the `cache` group (every host when there is none).
"""

from groundwork.runner import deploy_components

deploy_components("redis")
