# Settings for every host in the `prod` group. Copy to group_data/prod.py
# (git-ignored). Secrets belong here or in your own secret store, never in git.
# The full list of keys, with defaults: README.md, "Settings".

base_timezone = "Europe/Berlin"
base_locale = "en_US.UTF-8"
base_extra_packages = ["htop"]

# PostgreSQL (deploys/postgres.py; hosts in the `db` group, or every host)
# postgres_roles = [{"name": "app", "password": "..."}]          # stored as a SCRAM verifier
# postgres_databases = [{"name": "app", "owner": "app", "extensions": ["vector"]}]
# postgres_replication_password = "..."  # required when hosts are in the `replica` group

# Redis (deploys/redis.py; hosts in the `cache` group, or every host)
# redis_app_password = "..."            # required where Redis runs; 16+ characters
# redis_maxmemory_policy = "noeviction"  # when this Redis is also the Celery broker

# The app (deploys/app.py; hosts in `app`, Celery on `worker`, or every host)
# app_name = "myapp"
# app_source = "../myapp"                  # project dir, .whl, or requirements .txt
# app_callable = "myapp.asgi:app"          # or "myapp.wsgi:app" with app_server = "wsgi"
# app_migrate_command = "alembic upgrade head"
# app_environment = {"SECRET_KEY": "..."}  # lands in /etc/myapp/env (0600)
# celery_app = "myapp.tasks:celery_app"

# Backups (deploys/backups.py; db hosts; copies go to hosts in the `backup` group)
# backups_age_recipients = ["age1..."]   # public keys; keep the private key off the hosts
