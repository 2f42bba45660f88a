"""The peer bench's workload through groundwork's operations, its fact cache and state
read, and its pyinfra patches (bench/peers.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workload  # noqa: E402
from pyinfra.context import ctx_host  # noqa: E402

from groundwork import factcache, pyinfra_patches  # noqa: E402
from groundwork.operations import files, server, systemd  # noqa: E402
from groundwork.packages import ensure_packages  # noqa: E402

pyinfra_patches.install()
factcache.begin(ctx_host.get(), "peer-bench")
run = workload.run_dir()

ensure_packages(workload.packages(), name="Packages")
for user in workload.USERS:
    server.user(name=f"User {user}", user=user, system=True, shell="/usr/sbin/nologin", home="/nonexistent",
                ensure_home=False)
for directory in workload.DIRECTORIES:
    files.directory(name=f"Directory {directory}", path=directory, user="root", group="root", mode="0755")
for local, remote in workload.FILES:
    files.put(name=f"File {remote}", src=str(run / local), dest=remote, user="root", group="root", mode="0644")
for unit in workload.UNITS:
    unit_file = files.put(name=f"Unit file {unit}", src=str(run / "units" / f"{unit}.service"),
                          dest=f"/etc/systemd/system/{unit}.service", user="root", group="root", mode="0644")
    systemd.daemon_reload(name=f"Reload systemd for {unit}", _if=unit_file.did_change)
    systemd.service(name=f"Unit {unit}", service=f"{unit}.service", running=True, enabled=True)
