"""The peer bench's workload through stock pyinfra operations (bench/peers.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workload  # noqa: E402
from pyinfra.operations import apt, files, server, systemd  # noqa: E402

workload.apply(files, server, systemd,
               lambda names: apt.packages(name="Packages", packages=names, no_recommends=True))
