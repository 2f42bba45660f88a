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
        state = lab.up(args.names, count=args.hosts, subnet=args.subnet)
        for host in state.hosts.values():
            groups = ",".join(host.groups) or "-"
            print(f"{host.name}\t{host.address}\tgroups: {groups}")
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
                    f"{h['name']}\t{h['address']}\t{state}\tgroups: {groups}\t"
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="groundwork", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    lab_p = sub.add_parser("lab", help="throwaway hosts for tests and demos")
    lab_sub = lab_p.add_subparsers(dest="lab_command", required=True)
    up_p = lab_sub.add_parser("up", help="boot lab hosts (replacing any running lab)")
    up_p.add_argument("names", nargs="*", metavar="NAME[:GROUP,...]")
    up_p.add_argument("--hosts", type=int, metavar="N", help="boot N hosts named lab1..labN")
    up_p.add_argument("--subnet", help="lab IPv4 subnet (default 172.31.213.0/24)")
    lab_sub.add_parser("down", help="stop the lab and remove everything it made")
    st_p = lab_sub.add_parser("status", help="the lab's hosts and how to reach them")
    st_p.add_argument("--json", action="store_true")
    sub.add_parser("settings", help="print the settings reference (Markdown)")
    ssh_p = lab_sub.add_parser("ssh", help="a shell on a lab host, or run a command there")
    ssh_p.add_argument("name")
    ssh_p.add_argument("remote_command", nargs=argparse.REMAINDER, metavar="COMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "lab":
            return _lab(args)
        if args.command == "settings":
            from .settings.reference import markdown

            print(markdown(), end="")
            return 0
    except LabError as exc:
        print(f"groundwork: {exc}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
