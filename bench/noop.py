"""How fast groundwork converges, measured on lab hosts (issue 8, "Benchmark").

    sudo .venv/bin/python bench/noop.py [--runs 5] [--rtt-ms 20] [--wrk-seconds 8] [--keep]

Run from the repository root, as root (it boots a lab of four hosts, each
with the whole stack, and takes it down at the end unless --keep). It uses
the lab named by GROUNDWORK_LAB_ID / GROUNDWORK_LAB_SUBNET / GROUNDWORK_LAB_DIR,
by default id "bn" in .lab-bench/ on the lab's default subnet. It prints:

1. a fresh converge of deploys/full.py on one host: wall time, and the time in
   apt operations apart from the other operations;
2. the no-op re-converge, 1 host and 4 hosts: wall time and remote commands
   (from pyinfra's --debug log, in a separate run so logging costs no time);
3. the floor beside it: the same pyinfra start and SSH connection with one
   command (`pyinfra INVENTORY exec -- true`);
3b. the same no-op and floor with --rtt-ms (20 by default) added to every round
   trip: SSH goes through a delaying proxy on loopback (groundwork.lab.delay,
   bench/inventories/delayed_lab.py), as from a laptop or CI runner to a VPS;
4. the example app's cheap endpoint (/version) with wrk on lab1 itself, through
   nginx (HTTPS) and directly on Gunicorn, as a ratio.

Timings are medians of --runs rounds; in each round every variant runs once,
back to back, so a busy machine slows them alike and the ratios hold. The
lab's Gunicorn binds 127.0.0.1:8000 (app_bind) so that wrk, which speaks TCP
only, can reach it without nginx; nginx proxies to that address.
Lab traffic only: pyinfra and ssh to the lab hosts, wrk on a host's loopback.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("GROUNDWORK_LAB_ID", "bn")
os.environ.setdefault("GROUNDWORK_LAB_DIR", str(ROOT / ".lab-bench"))
sys.path.insert(0, str(ROOT))

from groundwork.lab import lab  # noqa: E402
from groundwork.lab.delay import delayed  # noqa: E402
from groundwork.lab.state import LabState  # noqa: E402
from groundwork.testing.bench import (  # noqa: E402
    count_commands,
    op_durations,
    parse_wrk,
    phases,
    run_stamped,
    split_apt,
)

PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
INVENTORY = "inventories/lab.py"
HOSTS = ["lab1", "lab2", "lab3", "lab4"]
DATA = ["--data", "app_bind=127.0.0.1:8000"]
APP_PORT = 8000


DELAYED = {"inventory": INVENTORY, "env": None}  # set while the delaying proxies run


def pyinfra(*args: str, limit: list[str] | None = None, debug: bool = False, timeout: float = 3600):
    """Run pyinfra; (seconds, exit code, stderr lines each stamped with its arrival time)."""
    # One --limit per host: pyinfra reads "a,b" as one name, matches nothing and succeeds.
    limits = [arg for name in limit or [] for arg in ("--limit", name)]
    argv = [PYINFRA, "-y", *(["--debug"] if debug else []), *limits, *DATA, DELAYED["inventory"], *args]
    return run_stamped(argv, cwd=ROOT, timeout=timeout, env=DELAYED["env"])


def through_proxies(ports: dict[str, int]) -> None:
    """Point pyinfra() at the lab through the delaying proxies on `ports`."""
    DELAYED["inventory"] = "bench/inventories/delayed_lab.py"
    DELAYED["env"] = {**os.environ, "GROUNDWORK_BENCH_PROXIES": ",".join(f"{n}={p}" for n, p in ports.items())}


def use_direct_inventory() -> None:
    DELAYED["inventory"], DELAYED["env"] = INVENTORY, None


def must(result, what: str):
    seconds, code, stamped = result
    if code != 0:
        tail = "".join(line for _, line in stamped[-40:])
        raise SystemExit(f"bench: {what} failed (exit {code}):\n{tail}")
    return result


def noop(limit: list[str]):
    """(seconds, seconds per phase) of a no-op converge; fails unless pyinfra saw no change."""
    seconds, code, stamped = must(pyinfra("deploys/full.py", limit=limit), f"no-op converge of {','.join(limit)}")
    # pyinfra's last table row: "Grand total  OPS  SUCCESS  ERROR  NO_CHANGE"; "-" for none.
    total = next((line.split()[2:] for _, line in reversed(stamped) if "Grand total" in line), None)
    if total is None or total[1] != "-":
        raise SystemExit(f"bench: the no-op converge of {','.join(limit)} changed something: {total}")
    return seconds, phases(stamped, seconds)


def floor(limit: list[str]) -> float:
    return must(pyinfra("exec", "--", "true", limit=limit), "floor")[0]


def fresh_converge(host: str) -> dict:
    seconds, code, stamped = must(pyinfra("deploys/full.py", limit=[host]), f"fresh converge of {host}")
    apt, other = split_apt(op_durations(stamped))
    begin = next((at for at, line in stamped if "Beginning operation run" in line), 0.0)
    return {"wall": seconds, "apt": apt, "other_ops": other, "before_ops": begin}


def count(limit: list[str]):
    seconds, code, stamped = must(pyinfra("deploys/full.py", limit=limit, debug=True), "counted no-op converge")
    return count_commands("".join(line for _, line in stamped))


def wrk(url: str, seconds: int, host_header: str | None = None) -> dict:
    header = f"-H 'Host: {host_header}' " if host_header else ""
    out = lab.run_on("lab1", f"wrk -t2 -c16 -d{seconds}s {header}{url}", timeout=seconds + 60)
    if out.returncode != 0:
        raise SystemExit(f"bench: wrk {url} failed: {out.stderr.strip()}")
    return parse_wrk(out.stdout)


def median(values) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds of the side-by-side timings (median)")
    parser.add_argument("--rtt-ms", type=float, default=20, help="round-trip time added for the delayed rounds")
    parser.add_argument("--wrk-seconds", type=int, default=8, help="seconds of each wrk run (4 runs)")
    parser.add_argument("--keep", action="store_true", help="leave the lab up at the end")
    args = parser.parse_args()
    os.chdir(ROOT)
    # pyinfra writes no bytecode: compiled here once, as a pip-installed groundwork is (Makefile: compile)
    subprocess.run([sys.executable, "-m", "compileall", "-q", "groundwork"], check=True, stdout=subprocess.DEVNULL)
    print(f"bench: lab id {os.environ['GROUNDWORK_LAB_ID']}, dir {os.environ['GROUNDWORK_LAB_DIR']}", flush=True)
    lab.up(HOSTS)  # the lab resolves each host's name to it
    try:
        run(args)
    finally:
        if not args.keep:
            lab.down()


def side_by_side(runs: int) -> tuple[dict[str, list[float]], list[dict]]:
    """`runs` rounds of the no-op and the floor on lab1 and on all hosts, each round in the
    same order; the timings, and where the 1-host no-op's time went in each round."""
    timings: dict[str, list[float]] = {"noop1": [], "floor1": [], "noop4": [], "floor4": []}
    split1: list[dict] = []
    for _ in range(runs):
        seconds, split = noop(["lab1"])
        timings["noop1"].append(seconds)
        split1.append(split)
        timings["floor1"].append(floor(["lab1"]))
        timings["noop4"].append(noop(HOSTS)[0])
        timings["floor4"].append(floor(HOSTS))
    return timings, split1


def run(args) -> None:
    # 1. Fresh converge, one host; then the other three (their time is not a figure).
    fresh = fresh_converge("lab1")
    print(f"fresh converge, 1 host: {fresh['wall']:.0f} s wall = {fresh['before_ops']:.1f} s start+connect+plan "
          f"+ {fresh['apt']:.0f} s apt operations + {fresh['other_ops']:.0f} s other operations", flush=True)
    rest = must(pyinfra("deploys/full.py", limit=HOSTS[1:]), "fresh converge of lab2-4")
    print(f"(fresh converge of lab2-lab4 together: {rest[0]:.0f} s)", flush=True)
    if count(HOSTS[1:]).commands.keys() != set(HOSTS[1:]):
        raise SystemExit("bench: the limit to lab2-lab4 did not reach those hosts")

    # 2 + 3. No-op and floor, side by side, each round in the same order.
    timings, split1 = side_by_side(args.runs)
    one, four = count(["lab1"]), count(HOSTS)
    m = {k: median(v) for k, v in timings.items()}
    print(f"no-op, 1 host : {m['noop1']:.2f} s wall (runs: {', '.join(f'{s:.2f}' for s in timings['noop1'])}); "
          f"{one.total} remote commands, {one.uploads} uploads")
    print("  where it goes (medians): " + ", ".join(
        f"{name} {median(s[name] for s in split1 if name in s):.2f} s" for name in split1[0]))
    print(f"floor, 1 host : {m['floor1']:.2f} s wall (pyinfra exec -- true)")
    print(f"no-op, 4 hosts: {m['noop4']:.2f} s wall (runs: {', '.join(f'{s:.2f}' for s in timings['noop4'])}); "
          f"{four.total} remote commands ({', '.join(f'{h} {n}' for h, n in sorted(four.commands.items()))})")
    print(f"floor, 4 hosts: {m['floor4']:.2f} s wall")
    print(f"ratios: no-op/floor 1 host {m['noop1'] / m['floor1']:.2f} (target <= 2); "
          f"no-op 4 hosts / 1 host {m['noop4'] / m['noop1']:.2f} (target <= 1.5); "
          f"no-op 1 host {m['noop1']:.2f} s (target <= 3 s)")
    print("facts read per no-op run on 1 host: " + ", ".join(f"{n} {c}" for n, c in one.facts.most_common()))

    # 3b. The same at a real network's round-trip time.
    state = LabState.load()
    targets = {name: (state.hosts[name].address, 22) for name in HOSTS}
    with delayed(targets, args.rtt_ms) as ports:
        through_proxies(ports)
        try:
            slow, _ = side_by_side(args.runs)
            one_slow = count(["lab1"])
        finally:
            use_direct_inventory()
    r = {k: median(v) for k, v in slow.items()}
    print(f"at {args.rtt_ms:g} ms RTT (delaying proxy): no-op 1 host {r['noop1']:.2f} s "
          f"(runs: {', '.join(f'{s:.2f}' for s in slow['noop1'])}), floor {r['floor1']:.2f} s, "
          f"ratio {r['noop1'] / r['floor1']:.2f} (target <= 2); {one_slow.total} remote commands")
    print(f"at {args.rtt_ms:g} ms RTT: no-op 4 hosts {r['noop4']:.2f} s, floor {r['floor4']:.2f} s, "
          f"4 hosts / 1 host {r['noop4'] / r['noop1']:.2f}")

    # 4. Throughput through nginx vs directly on Gunicorn, on lab1's loopback.
    installed = lab.run_on("lab1", "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk",
                           timeout=600)
    if installed.returncode != 0:
        raise SystemExit(f"bench: installing wrk failed: {installed.stderr.strip()[-500:]}")
    direct, proxied = [], []
    for _ in range(2):
        direct.append(wrk(f"http://127.0.0.1:{APP_PORT}/version", args.wrk_seconds))
        proxied.append(wrk("https://127.0.0.1/version", args.wrk_seconds, host_header="lab1.groundwork.test"))
    d, p = median(r["rps"] for r in direct), median(r["rps"] for r in proxied)
    print(f"/version with wrk -t2 -c16 -d{args.wrk_seconds}s on lab1: direct {d:.0f} req/s, through nginx {p:.0f} "
          f"req/s, ratio {p / d:.2f} (target >= 0.7)")
    for label, runs in (("direct", direct), ("through nginx", proxied)):
        rates = ", ".join(f"{r['rps']:.0f}" for r in runs)
        errors = " / ".join(r["errors"] or "no socket errors" for r in runs)
        print(f"  {label}: runs {rates} req/s; non-2xx/3xx responses {sum(r['bad'] for r in runs)}; {errors}")


if __name__ == "__main__":
    main()
