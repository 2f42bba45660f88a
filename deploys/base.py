"""Base: hostname, packages, time zone, locale, journald, and the security baseline
(admin users, sudo, sshd hardening, unattended upgrades, fail2ban, swap, time sync,
sysctl); see docs/baseline.md.

    pyinfra inventories/prod.py deploys/base.py
"""

from groundwork.runner import deploy_components

deploy_components("base")
