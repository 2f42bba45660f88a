"""A probe service wired through groundwork.changes, for the pending-restart test.

--data probe_value=N            what the probe's config file says
--data probe_fail_before_restart=1   fail after the config is written, before the restart
"""

from io import StringIO

from pyinfra import host
from pyinfra.operations import server, systemd

from groundwork.changes import ServiceChanges, watched_upload
from groundwork.operations import files

UNIT = """\
[Unit]
Description=groundwork pending-restart probe

[Service]
EnvironmentFile=/etc/gw-probe.env
ExecStart=/bin/sleep infinity
"""

unit = files.put(name="Upload the probe unit", src=StringIO(UNIT), dest="/etc/systemd/system/gw-probe.service")
systemd.daemon_reload(name="Reload systemd units", _if=unit.did_change)
probe = ServiceChanges("gw-probe", action="restart", check="grep -qE '^PROBE=[0-9]+$' /etc/gw-probe.env")
watched_upload(
    probe, files.put,
    name="Upload the probe config",
    src=StringIO(f"PROBE={host.data.get('probe_value', 1)}\n"),
    dest="/etc/gw-probe.env",
)
systemd.service(name="Start the probe", service="gw-probe", running=True)
if host.data.get("probe_fail_before_restart"):
    server.shell(name="Fail on purpose before the restart", commands=["exit 3"])
probe.apply()
