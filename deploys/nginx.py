"""Edge: nginx in front of the app, HTTPS with a certificate from an ACME CA.

    pyinfra inventories/prod.py deploys/nginx.py

Runs on the hosts in the `web` group (every host when there is none).
"""

from pyinfra import host

from groundwork.components.edge import deploy_edge
from groundwork.deploy import settings_for
from groundwork.topology import host_has_role
from groundwork.wiring import nginx_upstream

settings = settings_for(host, deploying=["nginx", "certbot", "app"])

if host_has_role(host, "web"):
    deploy_edge(settings.nginx, settings.certbot, nginx_upstream(settings, lambda role: host_has_role(host, role)))
