"""The lab's hosts, each reached through a delaying proxy on loopback (groundwork.lab.delay).

bench/noop.py --rtt-ms sets, for the run it starts:
    GROUNDWORK_BENCH_PROXIES      lab1=PORT,lab2=PORT,...   (only these hosts are in the inventory)

Everything else is inventories/lab.py's, ssh_hostname and ssh_port included: paramiko
is handed a socket already connected to the host's proxy (pyinfra passes
ssh_paramiko_connect_kwargs to paramiko's connect), so host keys are checked for the
real address and every rendered file (addresses, the firewall's SSH port) is the
same as without the proxy. pyinfra connects each host once per run.
"""

import os
import socket

from groundwork.lab.inventory import lab_groups

_ports = dict(item.split("=", 1) for item in os.environ["GROUNDWORK_BENCH_PROXIES"].split(","))
_sockets = {}


def _through_proxy(name, data):
    if name not in _sockets:
        _sockets[name] = socket.create_connection(("127.0.0.1", int(_ports[name])), timeout=30)
    return (name, {**data, "ssh_paramiko_connect_kwargs": {"sock": _sockets[name]}})


globals().update({
    group: [_through_proxy(name, data) for name, data in hosts if name in _ports]
    for group, hosts in lab_groups().items()
})
