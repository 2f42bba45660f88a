# Settings for the lab's throwaway hosts (`groundwork lab up`). No real secrets.
base_timezone = "UTC"

# Postgres (lab-only passwords: the lab is thrown away after each run)
postgres_roles = [{"name": "app", "password": "lab-app-password-not-secret"}]
postgres_databases = [{"name": "app", "owner": "app", "extensions": ["vector"]}]
# Used only when the lab has a `replica` host (tests/e2e/test_replication.py).
postgres_replication_password = "lab-replication-password-not-secret"

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

# Backups (lab-only: a recipient whose private key was thrown away when it was made;
# tests/e2e/test_backups.py passes a key pair of its own)
backups_age_recipients = ["age1r2fjnn5jukwtkewsp735jknyx2z29amymlx5cy2k8fvqlglff5wqunqtg3"]
backups_keep_daily = 3

# Firewall and SSH: the lab inventory (groundwork.lab.inventory) gives every
# lab host an admin user "ops" whose key is the lab's own key. It keeps
# connecting as root, so base_ssh_permit_root_login "auto" keeps root login
# key-only (prohibit-password) instead of "no": the next run still gets in.
