"""Certbot: the edge deploy, which gets and renews the site certificate with nginx.

    pyinfra inventories/prod.py deploys/certbot.py   (the same as deploys/nginx.py)

nginx serves the ACME challenges, so the two run as one deploy.
"""

from pyinfra import host

from groundwork.deploy import settings_for
from groundwork.stack import run_edge

run_edge(settings_for(host, deploying=["nginx", "certbot", "app"]))
