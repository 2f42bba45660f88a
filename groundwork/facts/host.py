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
