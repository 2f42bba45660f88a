"""deploys/full.py as a run that dies after every config upload and before any restart.

Each watched file is uploaded (and, in the same operation, its service marked
pending); then, instead of the restarts, the run fails. The next normal run
must restart every service it left behind (tests/e2e/test_trust.py).
"""

from pyinfra.operations import server

from groundwork import changes
from groundwork.runner import deploy_components


def no_restart(self):
    """The run is 'killed' before it gets here."""
    return None


changes.ServiceChanges.apply = no_restart
deploy_components()
server.shell(name="Die after the uploads, before the restarts", commands=["exit 3"])
