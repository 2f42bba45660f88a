"""Facts and one-command no-op operations against JSON fixtures, as pyinfra tests its own.

A case is a JSON file: tests/unit/fixtures/facts/<module.Fact>/<case>.json or
tests/unit/fixtures/operations/<module.op>/<case>.json (formats in
groundwork/testing/fixtures.py and tests/unit/fixtures/README.md).
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from pyinfra.api import FactBase

import groundwork
from groundwork.testing import fixtures
from groundwork.testing.fixtures import (
    FixtureError,
    check_fact_case,
    check_operation_case,
    load_cases,
    qualified_name,
)

FIXTURES = Path(__file__).parent / "fixtures"
FACT_CASES = load_cases(FIXTURES / "facts")
OPERATION_CASES = load_cases(FIXTURES / "operations")

# Operations whose no-op is decided by one fact: each needs a no-op case and a change case.
ONE_FACT_OPERATIONS = [
    "groundwork.operations.files.put",
    "groundwork.operations.files.template",
    "groundwork.operations.files.checked_template",
    "groundwork.operations.server.user",
    "groundwork.operations.systemd.service",
    "groundwork.components.firewall.operations.firewall",
]


@pytest.mark.parametrize("case", FACT_CASES, ids=[c.id for c in FACT_CASES])
def test_fact(case):
    check_fact_case(case)


@pytest.mark.parametrize("case", OPERATION_CASES, ids=[c.id for c in OPERATION_CASES])
def test_operation(case):
    check_operation_case(case, FIXTURES)


def groundwork_facts() -> set[str]:
    """Every FactBase subclass defined under groundwork, all its modules imported."""
    failed = []
    for module in pkgutil.walk_packages(groundwork.__path__, "groundwork."):
        try:
            importlib.import_module(module.name)
        except Exception as e:  # noqa: BLE001 - a module that fails to import could hide a fact
            failed.append(f"{module.name}: {e!r}")
    assert not failed, "modules that do not import:\n" + "\n".join(failed)

    found, todo = set(), [FactBase]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("groundwork."):
                found.add(qualified_name(sub))
    return found


def test_every_groundwork_fact_has_fixtures():
    facts = groundwork_facts()
    assert len(facts) >= 17  # the discovery itself works: the facts there were when this was written
    with_cases = {case.target for case in FACT_CASES}
    missing = sorted(facts - with_cases)
    assert not missing, f"facts without a case under {FIXTURES / 'facts'}: {missing}"
    stale = sorted(with_cases - facts)
    assert not stale, f"fixture directories naming no groundwork fact: {stale}"


def test_every_listed_operation_has_a_noop_and_a_change_case():
    for op in ONE_FACT_OPERATIONS:
        cases = [c for c in OPERATION_CASES if c.target == op]
        assert any("noop_description" in c.data for c in cases), f"{op}: no no-op case"
        assert any(c.data.get("commands") for c in cases), f"{op}: no case with commands"


def test_fixture_directories_hold_only_cases():
    for kind in ("facts", "operations"):
        for path in (FIXTURES / kind).iterdir():
            assert path.is_dir(), f"{path}: expected one directory per fact or operation"
            assert list(path.glob("*.json")), f"{path}: a directory without cases"
            assert all(p.suffix == ".json" for p in path.iterdir()), f"{path}: not only .json files"


# --- the harness fails loudly --------------------------------------------------------------------


def _case(target, name, data):
    from groundwork.testing.fixtures import Case

    return Case(target, name, FIXTURES / "x.json", data)


def test_a_fact_the_fixture_lacks_is_named():
    case = next(c for c in OPERATION_CASES if c.target.endswith("systemd.service") and c.name == "running_enabled")
    with pytest.raises(FixtureError, match="groundwork.facts.systemd.SystemdUnit"):
        check_operation_case(_case(case.target, case.name, {**case.data, "facts": {}}), FIXTURES)


def test_fact_arguments_the_fixture_lacks_are_named():
    case = next(c for c in OPERATION_CASES if c.target.endswith("files.put") and c.name == "already_uploaded")
    facts = {"FileSummary": {"path=/somewhere/else": None}}
    with pytest.raises(FixtureError, match=r"FileSummary has no value for \(path=/etc/motd\)"):
        check_operation_case(_case(case.target, case.name, {**case.data, "facts": facts}), FIXTURES)


def test_a_wrong_fact_value_fails():
    case = next(c for c in FACT_CASES if c.id == "groundwork.facts.host.CpuCount/two_cpus")
    with pytest.raises(AssertionError, match="fact"):
        check_fact_case(_case(case.target, case.name, {**case.data, "fact": case.data["fact"] + 1}))


def test_a_wrong_command_fails():
    case = next(c for c in OPERATION_CASES if c.data.get("commands"))
    commands = [*case.data["commands"], "true"]
    with pytest.raises(AssertionError, match="commands"):
        check_operation_case(_case(case.target, case.name, {**case.data, "commands": commands}), FIXTURES)


def test_a_typo_in_a_key_fails():
    case = next(c for c in FACT_CASES)
    with pytest.raises(FixtureError, match="unknown keys"):
        check_fact_case(_case(case.target, case.name, {**case.data, "outptu": []}))


def test_a_second_run_that_differs_fails(monkeypatch):
    runs = []

    def not_idempotent(**kwargs):
        runs.append(kwargs)
        yield f"echo run {len(runs)}"

    monkeypatch.setattr(fixtures, "resolve", lambda dotted: SimpleNamespace(_inner=not_idempotent))
    case = _case("example.not_idempotent", "case", {"args": {}, "facts": {}, "commands": ["echo run 1"]})
    with pytest.raises(AssertionError, match="second run"):
        check_operation_case(case, FIXTURES)
    assert len(runs) == 2
