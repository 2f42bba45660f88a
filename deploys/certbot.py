"""Certbot: the edge deploy, which gets and renews the site certificate with nginx.

    pyinfra inventories/prod.py deploys/certbot.py   (the same as deploys/nginx.py)

nginx serves the ACME challenges, so the two run as one deploy.
"""

from pyinfra import host

from groundwork.components.edge import deploy_edge
from groundwork.deploy import settings_for
from groundwork.topology import host_has_role
from groundwork.wiring import nginx_upstream

settings = settings_for(host, deploying=["nginx", "certbot", "app"])

if host_has_role(host, "web"):
    deploy_edge(settings.nginx, settings.certbot, nginx_upstream(settings, lambda role: host_has_role(host, role)))
