"""Base: hostname, packages, time zone, locale, journald.

    pyinfra inventories/prod.py deploys/base.py
"""

from pyinfra import host

from groundwork.components.base import deploy_base
from groundwork.deploy import settings_for

deploy_base(settings_for(host, deploying=["base"]).base)
