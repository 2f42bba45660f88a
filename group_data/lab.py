# Settings for the lab's throwaway hosts (`groundwork lab up`). No real secrets.
base_timezone = "UTC"

# Postgres (lab-only passwords: the lab is thrown away after each run)
postgres_roles = [{"name": "app", "password": "lab-app-password-not-secret"}]
postgres_databases = [{"name": "app", "owner": "app", "extensions": ["vector"]}]

# Redis (lab-only passwords: the lab is thrown away after each run)
redis_app_password = "lab-redis-app-password-not-secret"
redis_admin_password = "lab-redis-admin-password-not-secret"

# App: the example app in examples/demoapp, built into wheels here
app_name = "demoapp"
app_source = "examples/demoapp"
app_callable = "demoapp.asgi:app"
app_migrate_command = "demoapp-migrate"
app_workers = 2
celery_app = "demoapp.tasks:celery_app"
celery_concurrency = 2
app_static_command = "echo 'User-agent: *' > \"$STATIC_ROOT/robots.txt\""
app_config_files = [{"src": "examples/demoapp/deploy/demoapp.ini.j2", "dest": "/etc/demoapp/demoapp.ini"}]
