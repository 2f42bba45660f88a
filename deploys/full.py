"""The whole stack, component by component, in dependency order.

    pyinfra inventories/prod.py deploys/full.py

Hosts in the `db` group get PostgreSQL, `cache` Redis, `app` the web app,
`worker` Celery; with no such group in the inventory, every host gets them
(groundwork.topology).
"""

from pyinfra import host

from groundwork.components.app import deploy_app
from groundwork.components.base import deploy_base
from groundwork.components.postgres import deploy_postgres
from groundwork.components.redis import deploy_redis
from groundwork.deploy import settings_for
from groundwork.topology import first_host_with_role, host_has_role
from groundwork.wiring import app_environment

settings = settings_for(host)

deploy_base(settings.base)
if host_has_role(host, "db"):
    deploy_postgres(settings.postgres)
if host_has_role(host, "cache"):
    deploy_redis(settings.redis)
if host_has_role(host, "app") and settings.app.source:
    deploy_app(
        settings.app,
        settings.celery,
        app_environment(settings, lambda role: host_has_role(host, role)),
        run_migrations=first_host_with_role("app").name == host.name,
        run_worker=host_has_role(host, "worker"),
        run_beat=first_host_with_role("worker").name == host.name,
    )
