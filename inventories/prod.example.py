# A production inventory. Copy it to inventories/prod.py (git-ignored), edit,
# and run:  pyinfra inventories/prod.py deploys/full.py
#
# Each list is a group; a host is (name, host data). Every host here is in the
# `prod` group, so group_data/prod.py (copy group_data/prod.example.py) holds
# the settings all production hosts share; host data overrides them per host.
# Connection keys are pyinfra's own (ssh_user, ssh_port, ssh_key, _sudo);
# settings keys are groundwork's (base_*, ...), validated before any host is
# touched.

prod = [
    (
        "app1.example.com",
        {
            "ssh_user": "admin",  # a sudoer with your key; root works too
            "_sudo": True,
            "base_hostname": "app1.example.com",
        },
    ),
]
