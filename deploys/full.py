"""The whole stack, component by component, in dependency order.

    pyinfra inventories/prod.py deploys/full.py
"""

from pyinfra import host

from groundwork.components.base import deploy_base
from groundwork.deploy import settings_for

settings = settings_for(host)

deploy_base(settings.base)
