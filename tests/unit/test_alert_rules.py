"""The alert rules groundwork ships, checked by Debian's promtool (the one Prometheus on Debian 12 runs).

The rules are rendered exactly as the monitoring deploy installs them
(render_rules), then `promtool check rules` must accept them and `promtool
test rules` must pass the cases in tests/unit/data/alert_rules/: for every
alert, input series under which it fires (with its labels and annotations)
and series under which it stays quiet. A new alert without both fails here.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import jinja2
import jinja2.meta
import pytest
import yaml
from pyinfra.api.util import get_template

from groundwork.components.monitoring.rules import (
    RULES_PATH,
    render_rules,
    rules_context,
)
from groundwork.components.monitoring.settings import MonitoringSettings
from groundwork.paths import template
from groundwork.settings.schema import build
from groundwork.testing.promtools import promtool

DATA = Path(__file__).parent / "data" / "alert_rules"
CASES = sorted(DATA.glob("*.test.yml"))  # against the rules of the default settings
RULES_FILE = "groundwork.rules.yml"  # what the cases' rule_files name
DEFAULTS = MonitoringSettings()


def settings(**changed) -> MonitoringSettings:
    """Monitoring settings as an inventory would give them (validated), e.g. settings(down_for='10s')."""
    return build(MonitoringSettings, {f"monitoring_{key}": value for key, value in changed.items()}, "monitor1")


def alerts(text: str) -> dict[str, dict]:
    """The rules of a rendered rules file by alert name."""
    return {rule["alert"]: rule for group in yaml.safe_load(text)["groups"] for rule in group["rules"]}


def run_promtool(*args: str, cwd: Path) -> str:
    done = subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"promtool {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def promtool_test(case: Path, rules: str, tmp_path: Path) -> str:
    """`promtool test rules` of `case` against the rendered `rules` (side by side, as the case names them)."""
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / RULES_FILE).write_text(rules)
    shutil.copy(case, tmp_path / case.name)
    return run_promtool("test", "rules", case.name, cwd=tmp_path)


# --- the rendered file --------------------------------------------------------------------------


@pytest.mark.parametrize("changed", [{}, {"down_for": "10s", "warn_for": "1h30m", "backup_max_age": "2h",
                                          "memory_available_below": 0.25, "disk_full_within": "500ms"}],
                         ids=["defaults", "changed"])
def test_promtool_accepts_the_rendered_rules(changed, tmp_path):
    (tmp_path / RULES_FILE).write_text(render_rules(settings(**changed)))
    assert "SUCCESS: 24 rules found" in run_promtool("check", "rules", RULES_FILE, cwd=tmp_path)


def test_every_alert_has_a_severity_and_says_what_broke_where():
    for name, rule in alerts(render_rules(DEFAULTS)).items():
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert set(rule["annotations"]) == {"summary", "description"}, name
        assert "{{ $labels.instance }}" in rule["annotations"]["description"], name
        assert "$labels" in rule["annotations"]["summary"], name


def test_the_template_uses_exactly_the_context():
    source = Path(template(RULES_PATH)).read_text()
    used = jinja2.meta.find_undeclared_variables(jinja2.Environment().parse(source))
    assert used == set(rules_context(DEFAULTS))


def test_a_missing_value_fails_the_rendering_instead_of_leaving_a_blank():
    context = rules_context(DEFAULTS)
    del context["backup_max_age_seconds"]
    with pytest.raises(jinja2.UndefinedError, match="backup_max_age_seconds"):
        get_template(template(RULES_PATH)).render(context)


def test_rules_context_gives_thresholds_in_seconds_and_fractions():
    context = rules_context(settings(backup_max_age="1h30m", disk_full_within="1500ms"))
    assert context["backup_max_age_seconds"] == 5400 and isinstance(context["backup_max_age_seconds"], int)
    assert context["disk_full_within_seconds"] == 1.5
    assert context["converge_max_age_seconds"] == 26 * 3600
    assert (context["down_for"], context["warn_for"]) == ("2m", "15m")
    assert context["nginx_5xx_ratio_above"] == 0.05 and context["nginx_5xx_ratio_above_percent"] == "5%"


# Each threshold setting: a changed value, the alert it moves, and what its rule then says (default -> changed).
THRESHOLDS = [
    ("down_for", "10s", "HostDown", "for", "2m", "10s"),
    ("down_for", "10s", "PostgresDown", "for", "2m", "10s"),
    ("warn_for", "1h", "MemoryLow", "for", "15m", "1h"),
    ("disk_full_within", "3d", "DiskWillFillSoon", "expr", "[6h], 86400) < 0", "[6h], 259200) < 0"),
    ("memory_available_below", 0.2, "MemoryLow", "expr", "< 0.1", "< 0.2"),
    ("postgres_connections_above", 0.9, "PostgresConnectionsNearMax", "expr", "> 0.8", "> 0.9"),
    ("replica_lag_above", "30s", "PostgresReplicaLagging", "expr", "> 300 ", "> 30 "),
    ("redis_memory_above", 0.75, "RedisMemoryNearMax", "expr", "> 0.9", "> 0.75"),
    ("nginx_5xx_ratio_above", 0.01, "NginxHigh5xxRatio", "expr", "> 0.05", "> 0.01"),
    ("certificate_expires_within", "30d", "CertificateExpiringSoon", "expr", "< 1209600", "< 2592000"),
    ("backup_max_age", "2h", "BackupTooOld", "expr", "> 93600", "> 7200"),
    ("converge_max_age", "7d", "ConvergeStale", "expr", "> 93600", "> 604800"),
]


@pytest.mark.parametrize("key, value, alert, field, default, changed", THRESHOLDS, ids=lambda v: str(v))
def test_a_threshold_setting_changes_its_rule(key, value, alert, field, default, changed):
    before = alerts(render_rules(DEFAULTS))[alert]
    after = alerts(render_rules(settings(**{key: value})))[alert]
    assert default in before[field] and changed not in before[field]
    assert changed in after[field] and default not in after[field]


def test_every_threshold_setting_is_checked():
    thresholds = {"down_for", "warn_for", "disk_full_within", "memory_available_below", "postgres_connections_above",
                  "replica_lag_above", "redis_memory_above", "nginx_5xx_ratio_above", "certificate_expires_within",
                  "backup_max_age", "converge_max_age"}
    assert thresholds <= set(vars(DEFAULTS))
    assert {row[0] for row in THRESHOLDS} == thresholds


# --- the alerts under promtool ------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_alerts_fire_when_they_should_and_only_then(case, tmp_path):
    assert "SUCCESS" in promtool_test(case, render_rules(DEFAULTS), tmp_path)


def test_changed_settings_move_when_alerts_fire(tmp_path):
    case = DATA / "settings" / "backup_max_age_2h_down_for_10s.test.yml"
    changed = render_rules(settings(backup_max_age="2h", down_for="10s"))
    assert "SUCCESS" in promtool_test(case, changed, tmp_path / "changed")
    # The same inputs against the defaults: neither alert fires, so the case fails.
    with pytest.raises(AssertionError, match="(?s)HostDown.*BackupTooOld"):
        promtool_test(case, render_rules(DEFAULTS), tmp_path / "defaults")


def test_every_alert_has_a_firing_and_a_quiet_case():
    firing, quiet = set(), set()
    for case in CASES:
        for test in yaml.safe_load(case.read_text())["tests"]:
            for check in test["alert_rule_test"]:
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    shipped = set(alerts(render_rules(DEFAULTS)))
    # promtool passes a case of an alert that does not exist as long as it expects nothing.
    assert (firing | quiet) - shipped == set(), "cases of alerts the rules do not have"
    assert shipped - firing == set(), "alerts without a case where they fire"
    assert shipped - quiet == set(), "alerts without a case where they stay quiet"
