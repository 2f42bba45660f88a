"""deploys/full.py on a fresh lab host: converge, converge again, verify."""

from __future__ import annotations

import pytest

from groundwork import converge as scheduled
from groundwork.lab.lab import run_on as lab_ssh
from groundwork.paths import ROOT
from groundwork.testing.bench import count_commands
from groundwork.testing.converge import converge
from groundwork.testing.verify import run_verify

LAB_INVENTORY = "inventories/lab.py"


@pytest.fixture(scope="module")
def first_converge(full_stack):
    return full_stack


def test_first_converge_changes_the_fresh_host(first_converge):
    assert first_converge.failed == {}
    assert first_converge.changed_count("lab1") > 0


def test_second_converge_changes_nothing(first_converge):
    again = converge(LAB_INVENTORY, "deploys/full.py")
    assert again.ok, again.describe()
    assert again.results is not None
    assert again.changed == {}, again.describe()
    assert again.results["totals"]["no_change"] > 0


def test_a_no_op_converge_reads_the_host_in_one_batch(first_converge):
    """Issue 16: the no-op converge, typed as a user types it, with pyinfra's --debug log
    counting the commands it sent; then every batched value against a single read."""
    argv = [str(ROOT / ".venv" / "bin" / "pyinfra"), "-y", "--debug", LAB_INVENTORY, "deploys/full.py"]
    code, stdout, stderr = scheduled.run_pyinfra(argv, cwd=ROOT, timeout=900)
    assert code == 0, stderr[-3000:]
    counted = count_commands(stderr)
    assert 0 < counted.commands["lab1"] <= 20, counted
    assert counted.uploads == 0
    assert "Grand total" in stderr + stdout
    parity = converge(LAB_INVENTORY, "tests/e2e/deploys/state_read_parity.py", json_output=False)
    assert parity.ok, parity.describe()


def test_verify_suite_passes_against_the_lab(first_converge):
    summary = run_verify("tests/verify", inventory=LAB_INVENTORY)
    assert " passed" in summary and "failed" not in summary and "skipped" not in summary, summary


def test_settings_typo_stops_the_run_before_any_operation(first_converge):
    before = lab_ssh("lab1", "stat -c %Y /etc/timezone").stdout
    result = converge(LAB_INVENTORY, "deploys/full.py", data={"postgres_verison": 16, "base_apt_cache_max_age": -1})
    assert result.returncode != 0
    assert "host lab1: postgres_verison: unknown setting (did you mean postgres_version?)" in result.stderr
    assert "host lab1: base_apt_cache_max_age: expected a number of seconds >= 0, got -1" in result.stderr
    assert "Starting operation" not in result.stderr
    assert result.results is None
    assert lab_ssh("lab1", "stat -c %Y /etc/timezone").stdout == before
