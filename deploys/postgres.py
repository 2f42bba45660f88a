"""Postgres: PostgreSQL with pgvector, tuning, pg_hba, roles, databases.

    pyinfra inventories/prod.py deploys/postgres.py

Runs on the hosts in the `db` group (every host when there is none), and on
the hosts in the `replica` group as hot standbys of the db host. Listen
addresses and pg_hba follow the inventory (README, "The data tier across hosts").
"""

from groundwork.runner import deploy_components

deploy_components("postgres")
