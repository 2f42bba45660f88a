"""Certbot: the edge deploy, which gets and renews the site certificate with nginx.

    pyinfra inventories/prod.py deploys/certbot.py   (the same as deploys/nginx.py)

nginx serves the ACME challenges, so the two run as one deploy.
"""

from groundwork.runner import deploy_components

deploy_components("nginx")
