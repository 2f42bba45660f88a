"""The lab network: one bridge on the control machine, a namespace per host.

The bridge carries the gateway address (apt cache, ACME server); hosts get no
default route, so nothing from the lab leaves the machine.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re

from .system import LabError, run


def _lab_id() -> str:
    """Names this lab's bridge, namespaces and links, so two labs can coexist
    on one machine (each with its own GROUNDWORK_LAB_DIR and _SUBNET too)."""
    lab_id = os.environ.get("GROUNDWORK_LAB_ID", "gw")
    if not re.fullmatch(r"[a-z]{1,3}", lab_id):
        raise LabError(f"GROUNDWORK_LAB_ID={lab_id!r}: expected 1 to 3 lowercase letters")
    return lab_id


LAB_ID = _lab_id()
BRIDGE = f"{LAB_ID}lab0"
NETNS_PREFIX = f"{LAB_ID}lab-"
VETH_PREFIX = f"{LAB_ID}-"
MAX_HOST_NAME = 15 - len(VETH_PREFIX)  # Linux interface names are at most 15 bytes


def netns_name(host: str) -> str:
    return NETNS_PREFIX + host


def veth_name(host: str) -> str:
    return VETH_PREFIX + host


def parse_subnet(subnet: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(subnet)
    except ValueError as exc:
        raise LabError(f"lab subnet {subnet}: expected a network like 172.31.213.0/24 ({exc})") from None


def plan_addresses(subnet: str) -> tuple[str, list[str]]:
    """The gateway address and the pool of host addresses for a subnet."""
    net = parse_subnet(subnet)
    if net.version != 4 or net.prefixlen > 28:
        raise LabError(f"lab subnet {subnet}: expected an IPv4 network of /28 or larger")
    addrs = [str(a) for a in net.hosts()]
    return addrs[0], addrs[9:]


def check_subnet_is_free(subnet: str) -> None:
    """Refuse a subnet that overlaps anything already routed on this machine."""
    net = parse_subnet(subnet)
    routes = json.loads(run("ip", "-j", "-4", "route", "show", "table", "all").stdout or "[]")
    for route in routes:
        dst = route.get("dst", "")
        if dst in ("default", "") or route.get("dev") == BRIDGE:
            continue
        try:
            other = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            continue
        if other.version == 4 and other.overlaps(net) and not other.is_loopback:
            raise LabError(
                f"lab subnet {subnet} overlaps {dst} (dev {route.get('dev')}); "
                "choose another with --subnet or GROUNDWORK_LAB_SUBNET"
            )
    for nameserver in _nameservers():
        if ipaddress.ip_address(nameserver) in net:
            raise LabError(f"lab subnet {subnet} holds this machine's DNS server {nameserver}")


def _nameservers() -> list[str]:
    try:
        lines = open("/etc/resolv.conf").read().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            try:
                if ipaddress.ip_address(parts[1]).version == 4:
                    out.append(parts[1])
            except ValueError:
                pass
    return out


def link_exists(name: str) -> bool:
    return run("ip", "link", "show", name, check=False).returncode == 0


def netns_exists(name: str) -> bool:
    return name in list_lab_netns(prefix=name)


def list_lab_netns(prefix: str = NETNS_PREFIX) -> list[str]:
    out = run("ip", "-j", "netns", "list", check=False).stdout.strip()
    names = [ns["name"] for ns in json.loads(out)] if out else []
    return [n for n in names if n.startswith(prefix)]


def create_bridge(gateway: str, subnet: str) -> None:
    prefix = ipaddress.ip_network(subnet).prefixlen
    if not link_exists(BRIDGE):
        run("ip", "link", "add", BRIDGE, "type", "bridge")
    run("ip", "addr", "replace", f"{gateway}/{prefix}", "dev", BRIDGE)
    run("ip", "link", "set", BRIDGE, "up")


def create_host_network(host: str, address: str, subnet: str) -> None:
    ns, veth = netns_name(host), veth_name(host)
    prefix = ipaddress.ip_network(subnet).prefixlen
    run("ip", "netns", "add", ns)
    run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
    run("ip", "link", "set", veth, "master", BRIDGE)
    run("ip", "link", "set", veth, "up")
    run("ip", "-n", ns, "addr", "add", f"{address}/{prefix}", "dev", "eth0")
    run("ip", "-n", ns, "link", "set", "eth0", "up")
    run("ip", "-n", ns, "link", "set", "lo", "up")


def delete_host_network(host: str) -> None:
    ns, veth = netns_name(host), veth_name(host)
    if link_exists(veth):
        run("ip", "link", "del", veth, check=False)
    if netns_exists(ns):
        run("ip", "netns", "del", ns, check=False)


def delete_bridge() -> None:
    if link_exists(BRIDGE):
        run("ip", "link", "del", BRIDGE, check=False)


def stale_host_names() -> list[str]:
    """Hosts whose namespace or veth is left from a lab that crashed."""
    names = {ns[len(NETNS_PREFIX):] for ns in list_lab_netns()}
    out = run("ip", "-j", "link", "show", check=False).stdout.strip()
    for link in json.loads(out) if out else []:
        ifname = link.get("ifname", "")
        if ifname.startswith(VETH_PREFIX):
            names.add(ifname[len(VETH_PREFIX):])
    return sorted(names)
