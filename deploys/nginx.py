"""Edge: nginx in front of the app, HTTPS with a certificate from an ACME CA.

    pyinfra inventories/prod.py deploys/nginx.py

Runs on the hosts in the `web` group (every host when there is none).
"""

from groundwork.runner import deploy_components

deploy_components("nginx")
