"""lynis on a fresh lab host and on one converged with the baseline (issue 6).

The baseline pair (conftest.py): lab2 is audited before anything is
converged, lab1 after deploys/base.py and deploys/firewall.py, the components
every host gets. docs/baseline.md ("lynis") records the indexes and explains
each accepted warning.
"""

from __future__ import annotations

import pytest

from groundwork.testing.lynis import accepted_warnings


@pytest.fixture(scope="module")
def audits(baseline_pair):
    return {"fresh": baseline_pair["fresh_audit"], "converged": baseline_pair["converged_audit"]}


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
