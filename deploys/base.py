"""Base: hostname, packages, time zone, locale, journald, and the security baseline
(admin users, sudo, sshd hardening, unattended upgrades, fail2ban, swap, time sync,
sysctl); see docs/baseline.md.

    pyinfra inventories/prod.py deploys/base.py
"""

from pyinfra import host

from groundwork.deploy import settings_for
from groundwork.stack import run_base

run_base(settings_for(host, deploying=["base"]))
