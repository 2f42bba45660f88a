"""systemd units that run `groundwork converge` on a schedule from a control host.

    groundwork schedule --inventory inventories/prod.py --on-calendar daily            # print them
    groundwork schedule --inventory inventories/prod.py --unit-dir /etc/systemd/system # write them

The templates live under templates/control/: they go to the control host,
never to a managed one.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from .converge import DEFAULT_DEPLOY, DEFAULT_LOCK
from .paths import ROOT, template
from .templates import get_template

DEFAULT_NAME = "groundwork-converge"


@dataclass(frozen=True)
class Schedule:
    inventory: str
    deploy: str = DEFAULT_DEPLOY
    name: str = DEFAULT_NAME
    on_calendar: str = "hourly"
    randomized_delay: str = "10min"
    dry_run: bool = False
    report: str | None = None  # default: /var/lib/NAME/report.json (the unit's StateDirectory)
    lock: str = DEFAULT_LOCK
    timeout: str = "1h"
    user: str | None = None
    workdir: Path = ROOT

    @property
    def report_path(self) -> str:
        return self.report or f"/var/lib/{self.name}/report.json"

    def command(self) -> str:
        groundwork = Path(sys.executable).with_name("groundwork")
        argv = [str(groundwork), "converge", self.inventory, self.deploy,
                "--report", self.report_path, "--lock", self.lock]
        if self.dry_run:
            argv.append("--dry-run")
        # systemd splits ExecStart= on quotes as a shell would, but expands
        # % specifiers and $VARIABLES itself: literal ones are doubled.
        return " ".join(shlex.quote(a) for a in argv).replace("%", "%%").replace("$", "$$")


def render_units(schedule: Schedule) -> dict[str, str]:
    """{unit file name: content} for the service and its timer."""
    # systemd expands % specifiers in nearly every setting: a literal % is doubled.
    literal = lambda value: value.replace("%", "%%")  # noqa: E731
    data = dict(
        name=schedule.name, inventory=literal(schedule.inventory), deploy=literal(schedule.deploy),
        dry_run=schedule.dry_run, workdir=literal(str(schedule.workdir)), command=schedule.command(),
        timeout=schedule.timeout, user=schedule.user, on_calendar=schedule.on_calendar,
        randomized_delay=schedule.randomized_delay,
    )
    units = {}
    for kind in ("service", "timer"):
        src = template(f"control/etc/systemd/system/{DEFAULT_NAME}.{kind}")
        units[f"{schedule.name}.{kind}"] = get_template(src).render(data)
    return units


def write_units(schedule: Schedule, unit_dir: Path) -> list[Path]:
    written = []
    for filename, content in render_units(schedule).items():
        path = unit_dir / filename
        path.write_text(content)
        path.chmod(0o644)
        written.append(path)
    return written
