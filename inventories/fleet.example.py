# A fleet (seed 003's shape): nginx on a web host balancing two app hosts, one
# host for Postgres and Redis, a read replica, and a backup host. Copy it to
# inventories/prod.py, edit, and run:
#
#     pyinfra inventories/prod.py deploys/full.py
#
# Groups are roles (docs/fleet.md): `web` nginx + certbot, `app` Gunicorn (and
# Celery, unless a `worker` group says otherwise), `db` Postgres, `cache`
# Redis, `replica` Postgres standbys, `backup` the off-host copies, `monitor`
# Prometheus and Alertmanager (docs/monitoring.md). Hosts find
# each other on `private_address` (else `ssh_hostname`): DATABASE_URL,
# REDIS_URL, pg_hba, Redis bind, nginx's upstream and the firewall all follow
# from this file; nothing is typed twice.

def host(name, private_address):
    return (name, {
        "ssh_hostname": name,
        "ssh_user": "admin",
        "_sudo": True,
        "base_hostname": name,
        "private_address": private_address,
    })


web = [host("web1.example.com", "10.0.0.10")]
app = [host("app1.example.com", "10.0.0.21"), host("app2.example.com", "10.0.0.22"),
       host("app3.example.com", "10.0.0.23")]
db = [host("db1.example.com", "10.0.0.31")]
cache = db
replica = [host("db2.example.com", "10.0.0.32")]
backup = [host("backup1.example.com", "10.0.0.41")]
monitor = backup  # Prometheus and Alertmanager beside the copies; every host runs its exporters

# Every host shares group_data/prod.py.
prod = web + app + db + replica + backup
