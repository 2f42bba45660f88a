"""Postgres: PostgreSQL with pgvector, tuning, pg_hba, roles, databases.

    pyinfra inventories/prod.py deploys/postgres.py

Runs on the hosts in the `db` group (every host when there is none).
"""

from pyinfra import host

from groundwork.components.postgres import deploy_postgres
from groundwork.deploy import settings_for
from groundwork.topology import host_has_role

settings = settings_for(host, deploying=["postgres"])

if host_has_role(host, "db"):
    deploy_postgres(settings.postgres)
