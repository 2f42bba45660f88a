"""The lab's hosts, each reached through a delaying proxy on loopback (groundwork.lab.delay).

bench/noop.py --rtt-ms sets, for the run it starts:
    GROUNDWORK_BENCH_PROXIES      lab1=PORT,lab2=PORT,...   (only these hosts are in the inventory)
    GROUNDWORK_BENCH_KNOWN_HOSTS  a known_hosts file naming each host's key as [127.0.0.1]:PORT
Everything else is inventories/lab.py's.
"""

import os

from groundwork.lab.inventory import lab_groups

_ports = dict(item.split("=", 1) for item in os.environ["GROUNDWORK_BENCH_PROXIES"].split(","))
_known_hosts = os.environ["GROUNDWORK_BENCH_KNOWN_HOSTS"]


def _through_proxy(name, data):
    return (name, {**data, "ssh_hostname": "127.0.0.1", "ssh_port": int(_ports[name]),
                   "ssh_known_hosts_file": _known_hosts})


globals().update({
    group: [_through_proxy(name, data) for name, data in hosts if name in _ports]
    for group, hosts in lab_groups().items()
})
