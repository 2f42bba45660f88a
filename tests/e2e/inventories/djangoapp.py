"""The lab's hosts (groundwork lab up) deployed with examples/djangoapp, a real
Django project, by settings alone: its settings are each host's own data here,
on top of group_data/ (tests/e2e/test_djangoapp.py).

    pyinfra tests/e2e/inventories/djangoapp.py deploys/full.py
"""

from groundwork.lab.inventory import lab_groups

SITE = "dj1.groundwork.test"
DJANGO = {
    "app_name": "djangoapp",
    "app_source": "examples/djangoapp",
    # A dependency published only as a pure-Python sdist, vendored with the project.
    "app_extra_requirements": ["examples/djangoapp/vendor/djangoapp_sdistonly-1.0.tar.gz"],
    "app_server": "wsgi",
    "app_callable": "djangoapp.wsgi:application",
    "app_workers": 2,
    "app_threads": 2,
    "app_packages": ["git"],  # GitPython needs it at runtime
    "app_migrate_command": "djangoapp-manage migrate --noinput",
    "app_static_command": "djangoapp-manage collectstatic --noinput",
    "app_health_path": "/health/",
    # The project needs no pgvector, which Debian 12's archive (the module's host) does not have.
    "postgres_databases": [{"name": "app", "owner": "app", "extensions": []}],
    "app_config_files": [],
    "app_environment": {
        "DJANGO_SECRET_KEY": "lab-django-secret-key-not-secret-0123456789abcdefghijklmnopqrstuvwxyz",
        "DJANGO_ALLOWED_HOSTS": SITE,  # the site's name only: the health check sends it
        "PGHOST": "${database.host}", "PGPORT": "${database.port}", "PGDATABASE": "${database.name}",
        "PGUSER": "${database.user}", "PGPASSWORD": "${database.password}",
    },
    "celery_app": None,
    "celery_command": "djangoapp-manage celery",  # the project's own way to start Celery
    "celery_concurrency": 2,
    "app_timers": [{"name": "record-tick", "command": "djangoapp-manage record_tick", "schedule": "minutely",
                    "randomized_delay": 0}],
    "app_processes": [{"name": "events", "command": "djangoapp-manage celery events --dump"}],
}

_groups = lab_groups()
for _hosts in _groups.values():
    for _name, _data in _hosts:
        _data.update(DJANGO)
globals().update(_groups)
