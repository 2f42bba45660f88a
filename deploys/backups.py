"""Backups: encrypted pg_dump runs with retention, off-host copies and a weekly restore drill.

    pyinfra inventories/prod.py deploys/backups.py

Runs on the hosts in the `db` group (every host when there is none); the hosts
in the `backup` group receive the copies (no such group: no off-host copy).
Restore and drill: docs/backups.md.
"""

from pyinfra import host

from groundwork.deploy import settings_for
from groundwork.stack import run_backups

run_backups(settings_for(host, deploying=["backups"]))
