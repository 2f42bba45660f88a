"""Edge: nginx in front of the app, HTTPS with a certificate from an ACME CA.

    pyinfra inventories/prod.py deploys/nginx.py

Runs on the hosts in the `web` group (every host when there is none).
"""

from pyinfra import host

from groundwork.deploy import settings_for
from groundwork.stack import run_edge

run_edge(settings_for(host, deploying=["nginx", "certbot", "app"]))
