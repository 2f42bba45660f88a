"""The `groundwork` command."""

from __future__ import annotations

import argparse
import json
import os
import sys

from .lab.system import LabError


def _lab(args: argparse.Namespace) -> int:
    from .lab import lab

    if args.lab_command == "up":
        state = lab.up(args.names, count=args.hosts, subnet=args.subnet, suite=args.suite)
        for host in state.hosts.values():
            groups = ",".join(host.groups) or "-"
            print(f"{host.name}\t{host.address}\t{host.suite}\tgroups: {groups}")
        print(f"ssh: groundwork lab ssh {next(iter(state.hosts))}")
        return 0
    if args.lab_command == "down":
        lab.down()
        return 0
    if args.lab_command == "status":
        info = lab.status()
        if args.json:
            print(json.dumps(info, indent=2))
        elif not info["running"]:
            print("lab: not running")
        else:
            print(f"lab: subnet {info['subnet']}, gateway {info['gateway']}")
            for h in info["hosts"]:
                state = "running" if h["running"] else "STOPPED"
                groups = ",".join(h["groups"]) or "-"
                print(
                    f"{h['name']}\t{h['address']}\t{state}\t{h['suite']}\tgroups: {groups}\t"
                    f"ssh {h['ssh_user']}@{h['address']} -p {h['ssh_port']} -i {h['ssh_key']}"
                )
            for h in info["hosts"]:
                site = f"{h['name']}.groundwork.test"
                print(
                    f"site of {h['name']} (once converged): curl -s --resolve {site}:443:{h['address']} "
                    f"--cacert {info['acme_root']} https://{site}/health"
                )
        return 0
    if args.lab_command == "ssh":
        argv = lab.ssh_argv(args.name, args.remote_command)
        os.execvp(argv[0], argv)
    raise AssertionError(args.lab_command)


def _converge(args: argparse.Namespace) -> int:
    from . import converge

    return converge.converge(args.inventory, args.deploy, dry_run=args.dry_run, report=args.report, lock=args.lock,
                             limit=args.limit, metrics=not args.no_metrics)


def _schedule(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .schedule import Schedule, render_units, write_units

    schedule = Schedule(
        inventory=args.inventory, deploy=args.deploy, name=args.name, on_calendar=args.on_calendar,
        randomized_delay=args.randomized_delay, dry_run=args.dry_run, report=args.report, lock=args.lock,
        timeout=args.timeout, user=args.user,
    )
    if args.unit_dir is None:
        for filename, content in render_units(schedule).items():
            print(f"# --- {filename}\n{content}")
        return 0
    for path in write_units(schedule, Path(args.unit_dir)):
        print(f"wrote {path}")
    print(f"next: systemctl daemon-reload && systemctl enable --now {schedule.name}.timer")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="groundwork", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    lab_p = sub.add_parser("lab", help="throwaway hosts for tests and demos")
    lab_sub = lab_p.add_subparsers(dest="lab_command", required=True)
    up_p = lab_sub.add_parser("up", help="boot lab hosts (replacing any running lab)")
    up_p.add_argument("names", nargs="*", metavar="NAME[:GROUP,...][@SUITE]")
    up_p.add_argument("--hosts", type=int, metavar="N", help="boot N hosts named lab1..labN")
    up_p.add_argument("--subnet", help="lab IPv4 subnet (default 172.31.213.0/24)")
    from .lab.image import SUITES

    up_p.add_argument("--suite", choices=SUITES,
                      help="Debian suite of hosts without @SUITE: trixie (13, the default) or bookworm (12)")
    lab_sub.add_parser("down", help="stop the lab and remove everything it made")
    st_p = lab_sub.add_parser("status", help="the lab's hosts and how to reach them")
    st_p.add_argument("--json", action="store_true")
    sub.add_parser("settings", help="print the settings reference (Markdown)")
    from .converge import DEFAULT_DEPLOY, DEFAULT_LOCK

    conv_p = sub.add_parser(
        "converge", help="run a deploy unattended under a lock and report drift (docs/scheduled.md)",
        description="Exit status: 0 no drift, 3 drift found (--dry-run) or repaired, 1 a host failed "
        "or pyinfra stopped, 4 another run holds the lock, 2 usage error or a --limit that matches no host.",
    )
    conv_p.add_argument("inventory")
    conv_p.add_argument("deploy", nargs="?", default=DEFAULT_DEPLOY, help=f"default {DEFAULT_DEPLOY}")
    conv_p.add_argument("--dry-run", action="store_true", help="report what would change; change nothing")
    conv_p.add_argument("--report", metavar="FILE", help="write the drift report as JSON here")
    conv_p.add_argument("--lock", metavar="FILE", default=DEFAULT_LOCK, help=f"flock file (default {DEFAULT_LOCK})")
    conv_p.add_argument("--limit", metavar="HOST_OR_GROUP", action="append",
                        help="only these hosts or groups (globs, comma-separated, repeatable); none matching: exit 2")
    conv_p.add_argument("--no-metrics", action="store_true",
                        help="do not write groundwork_converge.prom (Prometheus textfile) on the hosts afterwards")
    sched_p = sub.add_parser("schedule", help="systemd service + timer running `groundwork converge`")
    sched_p.add_argument("--inventory", required=True)
    sched_p.add_argument("--deploy", default=DEFAULT_DEPLOY)
    sched_p.add_argument("--name", default="groundwork-converge", help="unit name (default groundwork-converge)")
    sched_p.add_argument("--on-calendar", default="hourly", metavar="SPEC", help="systemd OnCalendar= (default hourly)")
    sched_p.add_argument("--randomized-delay", default="10min", metavar="SPAN", help="RandomizedDelaySec= (default 10min)")
    sched_p.add_argument("--dry-run", action="store_true", help="only report drift, never repair it")
    sched_p.add_argument("--report", metavar="FILE", help="default /var/lib/NAME/report.json")
    sched_p.add_argument("--lock", metavar="FILE", default=DEFAULT_LOCK)
    sched_p.add_argument("--timeout", default="1h", metavar="SPAN", help="TimeoutStartSec= (default 1h)")
    sched_p.add_argument("--user", help="run as this user (whose SSH keys reach the fleet); default root")
    sched_p.add_argument("--unit-dir", metavar="DIR", help="write the units here instead of printing them")
    ssh_p = lab_sub.add_parser("ssh", help="a shell on a lab host, or run a command there")
    ssh_p.add_argument("name")
    ssh_p.add_argument("remote_command", nargs=argparse.REMAINDER, metavar="COMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "lab":
            return _lab(args)
        if args.command == "converge":
            return _converge(args)
        if args.command == "schedule":
            return _schedule(args)
        if args.command == "settings":
            from .reference import markdown

            print(markdown(), end="")
            return 0
    except LabError as exc:
        print(f"groundwork: {exc}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
