"""lynis on a fresh lab host and on one converged with the baseline (issue 6).

lab2 stays fresh (never converged: --limit lab1); lab1 gets deploys/base.py and
deploys/firewall.py, the components every host gets. docs/baseline.md ("lynis")
records the indexes and explains each accepted warning.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from groundwork.lab import lab
from groundwork.testing.converge import converge

DOC = Path(__file__).resolve().parents[2] / "docs" / "baseline.md"
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
    installed = lab.run_on(name, INSTALL, timeout=600)
    assert installed.returncode == 0, installed.stderr
    report = lab.run_on(name, AUDIT, timeout=900)
    assert report.returncode == 0, report.stderr
    index = re.search(r"^hardening_index=(\d+)$", report.stdout, re.M)
    assert index, report.stdout[-2000:]
    warnings = re.findall(r"^warning\[\]=([^|]+)\|", report.stdout, re.M)
    return int(index.group(1)), warnings


@pytest.fixture(scope="module")
def audits(lab_hosts):
    lab.up(["lab1", "lab2:bare"])
    try:
        result = converge(
            "inventories/lab.py", "deploys/base.py", extra_args=["deploys/firewall.py", "--limit", "lab1"]
        )
        assert result.ok, result.describe()
        yield {"fresh": audit("lab2"), "converged": audit("lab1")}
    finally:
        lab.up(["lab1"])


def test_the_baseline_raises_the_hardening_index_by_20(audits):
    fresh, _ = audits["fresh"]
    converged, _ = audits["converged"]
    print(f"lynis hardening index: fresh {fresh}, converged {converged}")
    assert converged >= fresh + 20, (fresh, converged)


def test_every_warning_on_the_converged_host_is_explained_in_the_docs(audits):
    _, warnings = audits["converged"]
    accepted = accepted_warnings()
    assert accepted, "docs/baseline.md lists no accepted lynis warnings"
    assert set(warnings) <= accepted, sorted(set(warnings) - accepted)
