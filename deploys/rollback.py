"""Rollback: put the app back on the release before the current one.

    pyinfra inventories/prod.py deploys/rollback.py

The same health gate as a deploy applies. The next converge of deploys/app.py
or deploys/full.py rolls forward to what app_source builds again: change or
pin app_source first if the newer release must stay off.
"""

from pyinfra.operations import server

from groundwork.components.app.wiring import runs_app
from groundwork.runner import this_host

run = this_host("app")
settings = run.settings

if runs_app(run.host):
    server.shell(
        name=f"Go back to the previous release of {settings.app.name}",
        commands=[f"groundwork-activate-{settings.app.name} --previous"],
    )
