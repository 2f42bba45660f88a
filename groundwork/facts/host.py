"""Host size, readable on a bare host (pyinfra's Memory fact needs vmstat)."""

from __future__ import annotations

from pyinfra.api import FactBase


class MemoryBytes(FactBase[int]):
    """Total memory in bytes, from /proc/meminfo."""

    def command(self) -> str:
        return "awk '/^MemTotal:/ {print $2}' /proc/meminfo"

    def process(self, output) -> int:
        return int(list(output)[0]) * 1024


class CpuCount(FactBase[int]):
    """Online CPUs."""

    def command(self) -> str:
        return "nproc"

    def process(self, output) -> int:
        return int(list(output)[0])


class IpAddresses(FactBase[list]):
    """The host's own IP addresses (every interface, loopback included), from iproute2."""

    def command(self) -> str:
        return "ip -o addr show"

    def process(self, output) -> list[str]:
        # "2: eth0    inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0\       valid_lft ..."
        found = []
        for line in output:
            words = line.split()
            for kind in ("inet", "inet6"):
                if kind in words[:-1]:
                    found.append(words[words.index(kind) + 1].split("/")[0])
        return found
