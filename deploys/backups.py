"""Backups: encrypted pg_dump runs with retention, off-host copies and a weekly restore drill.

    pyinfra inventories/prod.py deploys/backups.py

Runs on the hosts in the `db` group (every host when there is none); the hosts
in the `backup` group receive the copies (no such group: no off-host copy).
Restore and drill: docs/backups.md.
"""

from groundwork.runner import deploy_components

deploy_components("backups")
