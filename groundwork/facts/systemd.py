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


def parse_unit(lines: list[str]) -> dict | None:
    values = dict(line.strip().split("=", 1) for line in lines if "=" in line)
    if not values.get("Id") or values.get("SubState") in (None, ""):
        return None
    return {
        "id": values["Id"],
        "running": values["SubState"] in SystemdStatus.state_values,
        "enabled": values.get("UnitFileState") in SystemdEnabled.state_values,
    }
