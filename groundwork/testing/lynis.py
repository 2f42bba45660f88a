"""lynis on a lab host: its hardening index and warnings, and the warnings docs/baseline.md accepts."""

from __future__ import annotations

import re

from ..lab import lab
from ..paths import ROOT

DOC = ROOT / "docs" / "baseline.md"
AUDIT = "lynis audit system --quick --no-colors --cronjob >/dev/null 2>&1; cat /var/log/lynis-report.dat"
INSTALL = (
    "export DEBIAN_FRONTEND=noninteractive; "
    "apt-get install -y -q lynis >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q lynis; }"
)


def accepted_warnings() -> set[str]:
    """Test ids listed in docs/baseline.md under "Accepted lynis warnings", e.g. `PKGS-7388`."""
    text = DOC.read_text()
    section = text.split("Accepted lynis warnings", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^- `([A-Z]+-\d+)`", section, re.M))


def audit(name: str) -> tuple[int, list[str]]:
    """(hardening index, warning test ids) of lab host `name`, lynis installed on it first."""
    installed = lab.run_on(name, INSTALL, timeout=600)
    if installed.returncode != 0:
        raise AssertionError(f"installing lynis on {name} failed: {installed.stderr[-2000:]}")
    report = lab.run_on(name, AUDIT, timeout=900)
    if report.returncode != 0:
        raise AssertionError(f"lynis on {name} failed: {report.stderr[-2000:]}")
    index = re.search(r"^hardening_index=(\d+)$", report.stdout, re.M)
    if not index:
        raise AssertionError(f"no hardening index in lynis' report on {name}: {report.stdout[-2000:]}")
    return int(index.group(1)), re.findall(r"^warning\[\]=([^|]+)\|", report.stdout, re.M)
