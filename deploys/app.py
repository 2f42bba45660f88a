"""App: the web app under Gunicorn, and its Celery worker and beat.

    pyinfra inventories/prod.py deploys/app.py

Runs on the hosts in the `app` group (every host when there is none); Celery
on the `worker` group; migrations and beat on the first host of each.
"""

from pyinfra import host

from groundwork.components.app import deploy_app
from groundwork.deploy import settings_for
from groundwork.topology import first_host_with_role, host_has_role
from groundwork.wiring import app_environment

settings = settings_for(host, deploying=["app", "celery"])

if host_has_role(host, "app") and settings.app.source:
    deploy_app(
        settings.app,
        settings.celery,
        app_environment(settings, lambda role: host_has_role(host, role)),
        run_migrations=first_host_with_role("app").name == host.name,
        run_worker=host_has_role(host, "worker"),
        run_beat=first_host_with_role("worker").name == host.name,
    )
