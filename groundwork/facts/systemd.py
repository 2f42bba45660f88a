"""Whether a systemd unit runs and is enabled, in one command (groundwork.operations.systemd)."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase
from pyinfra.facts.systemd import SystemdEnabled, SystemdStatus


class SystemdUnit(FactBase):
    """{'running': bool, 'enabled': bool} of one unit, judged as pyinfra's SystemdStatus
    and SystemdEnabled judge them; None when systemd knows no unit by that id."""

    requires_command = "systemctl"

    def command(self, unit: str) -> str:
        return f"systemctl show --all --property Id --property SubState --property UnitFileState {shlex.quote(unit)}"

    def process(self, output):
        return parse_unit(list(output))

    # groundwork.factcache reads many units in one systemctl call: one block of
    # properties per unit, in the order asked, separated by blank lines.
    @staticmethod
    def combined_command(reads: list[dict]) -> str:
        units = " ".join(shlex.quote(read["unit"]) for read in reads)
        return f"systemctl show --all --property Id --property SubState --property UnitFileState {units}"

    @staticmethod
    def split_combined(lines: list[str], reads: list[dict]) -> list[list[str]] | None:
        blocks: list[list[str]] = [[]]
        for line in lines:
            if line == "":
                blocks.append([])
            else:
                blocks[-1].append(line)
        blocks = [block for block in blocks if block]
        return blocks if len(blocks) == len(reads) else None


def parse_unit(lines: list[str]) -> dict | None:
    values = dict(line.strip().split("=", 1) for line in lines if "=" in line)
    if not values.get("Id") or values.get("SubState") in (None, ""):
        return None
    return {
        "id": values["Id"],
        "running": values["SubState"] in SystemdStatus.state_values,
        "enabled": values.get("UnitFileState") in SystemdEnabled.state_values,
    }
