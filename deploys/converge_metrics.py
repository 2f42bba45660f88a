"""Converge metrics: each host's outcome of the converge that just ran, for Prometheus.

    GROUNDWORK_CONVERGE_METRICS='{"timestamp": 1764068533, "hosts": {"db1": {"success": 1, "drift": 0}}}' \
        pyinfra -y --limit db1 INVENTORY deploys/converge_metrics.py

Run by `groundwork converge` after its pyinfra run, not by hand. One operation per host, one remote
command: groundwork_converge.prom written whole into node exporter's textfile
directory, only where that directory exists (docs/scheduled.md). It reads no
fact, takes no lock (the converge that runs it holds the run lock) and is a
pyinfra run of its own, so it never counts as a change of the converge.
"""

import json
import os

from pyinfra import host
from pyinfra.operations import server

from groundwork.metrics import (
    CONVERGE_FILE,
    CONVERGE_VALUES_ENV,
    converge_metrics,
    write_textfile_command,
)

_values = json.loads(os.environ[CONVERGE_VALUES_ENV])
_mine = _values["hosts"].get(host.name)
if _mine is not None:
    server.shell(
        name="Write the converge metrics",
        commands=[write_textfile_command(
            converge_metrics(_values["timestamp"], _mine["success"], _mine["drift"]), CONVERGE_FILE,
        )],
    )
