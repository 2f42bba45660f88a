"""App: the web app under Gunicorn, and its Celery worker and beat.

    pyinfra inventories/prod.py deploys/app.py

Runs on the hosts in the `app` group (every host when there is none); Celery
on the `worker` group; migrations and beat on the first host of each.
"""

from groundwork.runner import deploy_components

deploy_components("app")
