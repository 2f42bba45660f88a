"""Outcomes as Prometheus metrics, for node exporter's textfile collector.

Node exporter (the monitoring component) reads every `*.prom` file in
TEXTFILE_DIR on each scrape. Two writers put files there:

- groundwork-backup (bash, templates/usr/local/sbin/groundwork-backup.j2):
  groundwork_backup_backup.prom and groundwork_backup_drill.prom, at the end
  of every run (docs/backups.md);
- `groundwork converge`: groundwork_converge.prom on each host it reached,
  through a second, one-command pyinfra run of deploys/converge_metrics.py
  (docs/scheduled.md).

Both replace a file whole (a temp file in the same directory, then `mv`), so
a scrape never sees half of one. No value is a secret.
"""

from __future__ import annotations

import shlex

# Debian's prometheus-node-exporter reads this directory (its ARGS default).
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
CONVERGE_FILE = "groundwork_converge.prom"
# groundwork converge hands the per-host values to the metrics deploy here (JSON).
CONVERGE_VALUES_ENV = "GROUNDWORK_CONVERGE_METRICS"

CONVERGE_METRICS = (
    ("groundwork_converge_last_run_timestamp_seconds", "Unix time the last groundwork converge that reached this host ended."),
    ("groundwork_converge_last_run_success", "1 if the last groundwork converge succeeded on this host, 0 if it failed."),
    ("groundwork_converge_last_run_drift",
     "1 if the last groundwork converge repaired drift on this host (a dry run: found drift), 0 otherwise."),
)


def gauges(values: list[tuple[str, str, int]]) -> str:
    """Prometheus' text format: HELP, TYPE gauge and the sample, per (name, help, value)."""
    return "".join(f"# HELP {name} {text}\n# TYPE {name} gauge\n{name} {int(value)}\n" for name, text, value in values)


def converge_metrics(timestamp: int, success: int, drift: int) -> str:
    """The content of groundwork_converge.prom for one host."""
    return gauges([(name, text, value) for (name, text), value in zip(CONVERGE_METRICS, (timestamp, success, drift))])


def write_textfile_command(content: str, filename: str, directory: str = TEXTFILE_DIR) -> str:
    """A shell command writing `content` to directory/filename whole, only when the directory exists.

    A host without node exporter's textfile directory gets nothing (exit 0).
    The temp file's name does not end in .prom: the collector skips it.
    """
    target = shlex.quote(f"{directory}/{filename}")
    # mktemp: a fresh name, never a file (or link) someone else put there.
    template = shlex.quote(f"{directory}/.{filename}.XXXXXX")
    return (
        f"if [ -d {shlex.quote(directory)} ]; then "
        f"t=$(mktemp {template}) && {{ printf '%s' {shlex.quote(content)} > \"$t\" && chmod 0644 \"$t\" "
        f"&& mv -f \"$t\" {target} || {{ rm -f \"$t\"; exit 1; }}; }}; fi"
    )
