"""Monitoring: exporters on every host, Prometheus and Alertmanager on `monitor` hosts.

    pyinfra inventories/prod.py deploys/monitoring.py

Prometheus runs on the hosts in the `monitor` group (on a one-host inventory,
that host); the exporters on every host. The firewall's openings for them are
applied by deploys/full.py or deploys/firewall.py (docs/monitoring.md).
"""

from groundwork.runner import deploy_components

deploy_components("monitoring")
