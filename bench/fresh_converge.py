"""A fresh converge of deploys/full.py on one lab host: this tree against an earlier revision, side by side.

    sudo .venv/bin/python bench/fresh_converge.py --against REV [--rounds 2] [--keep]

Run from the repository root, as root. Each round converges a fresh lab host
(lab1, brought up anew) with REV's code, checked out in a temporary git
worktree, then another fresh lab1 with this tree's, so a busy machine slows
both alike. It prints, per run, the wall time, the time in apt operations and
how many there were, then the medians and this tree's time as a ratio of REV's.
It uses the lab named by GROUNDWORK_LAB_ID / GROUNDWORK_LAB_SUBNET /
GROUNDWORK_LAB_DIR, by default id "bn" in .lab-bench/, and takes it down at the
end unless --keep. Lab traffic only: pyinfra and ssh to lab1, apt through the
lab's apt-cacher-ng (warm after the first run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("GROUNDWORK_LAB_ID", "bn")
os.environ.setdefault("GROUNDWORK_LAB_DIR", str(ROOT / ".lab-bench"))
sys.path.insert(0, str(ROOT))

from groundwork.lab import lab  # noqa: E402
from groundwork.testing.bench import APT_OP, op_durations, run_stamped, split_apt  # noqa: E402

PYINFRA = str(Path(sys.executable).with_name("pyinfra"))


def converge(tree: Path) -> dict:
    """A fresh lab1 converged with the code in `tree`."""
    lab.up(["lab1"])
    # PYTHONPATH first: that tree's groundwork, not the one installed in the venv.
    env = dict(os.environ, PYTHONPATH=str(tree))
    wall, code, stamped = run_stamped([PYINFRA, "-y", "inventories/lab.py", "deploys/full.py"], cwd=tree, env=env)
    if code != 0:
        tail = "".join(line for _, line in stamped[-40:])
        raise SystemExit(f"bench: fresh converge with {tree} failed (exit {code}):\n{tail}")
    durations = op_durations(stamped)
    apt, _ = split_apt(durations)
    return {"wall": wall, "apt": apt, "apt_ops": sum(1 for name, _ in durations if APT_OP.search(name))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", required=True, help="the git revision to compare with")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="leave the lab up at the end")
    args = parser.parse_args()
    rev = subprocess.run(["git", "rev-parse", "--short", args.against], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.strip()
    results: dict[str, list[dict]] = {rev: [], "this tree": []}
    with tempfile.TemporaryDirectory(prefix="gw-bench-") as tmp:
        old = Path(tmp) / "old"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(old), rev], cwd=ROOT, check=True)
        try:
            for n in range(args.rounds):
                for name, tree in ((rev, old), ("this tree", ROOT)):
                    r = converge(tree)
                    results[name].append(r)
                    print(f"round {n + 1}, {name}: {r['wall']:.0f} s wall, {r['apt']:.0f} s in "
                          f"{r['apt_ops']} apt operations", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, check=False)
            if not args.keep:
                lab.down()
    med = {name: {k: statistics.median(r[k] for r in runs) for k in ("wall", "apt", "apt_ops")}
           for name, runs in results.items()}
    for name, m in med.items():
        print(f"median, {name}: {m['wall']:.0f} s wall, {m['apt']:.0f} s apt, {m['apt_ops']:.0f} apt operations")
    print(f"this tree / {rev}: wall {med['this tree']['wall'] / med[rev]['wall']:.2f}, "
          f"apt {med['this tree']['apt'] / med[rev]['apt']:.2f}")


if __name__ == "__main__":
    main()
