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
workload.apply(files, server, systemd, lambda names: ensure_packages(names, name="Packages"))
