"""Every read the last `deploys/full.py` run saved for this host, read twice: in the one
batched state read and alone, as pyinfra reads it. Fails naming every read whose two
values differ (tests/e2e/test_full_converge.py). Changes nothing on the host."""

import shlex

from pyinfra import host
from pyinfra.api import StringCommand
from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import ctx_host

from groundwork import factcache
from groundwork.facts import systemd

real_host = ctx_host.get()
reads = factcache.HostReads(real_host, "full")
entries = factcache._load(reads.manifest)
if len(entries) < 50:
    raise PyinfraError(f"only {len(entries)} saved reads in {reads.manifest}: was deploys/full.py run first?")
kept = factcache.read_batch(reads, entries)
differ = []
for entry in entries:
    cls, args, kwargs = factcache._resolve(entry)
    key = factcache._key(cls, args, kwargs, reads.defaults)
    if key not in reads.values:
        continue  # left to a read of its own, as it would be in a run
    alone = factcache._ORIGINAL["get_fact"](real_host, cls, *args, **kwargs)
    if alone != reads.values[key]:
        differ.append(f"{entry}: batch {reads.values[key]!r} != alone {alone!r}")

# SystemdUnit's command answers from list-units and list-unit-files where it can: it must
# print what `systemctl show` prints for the units the deploy reads and for every other
# kind of name (an alias, a name without suffix, an instance, an unknown unit, "-.mount",
# an escaped name, a socket).
units = [e["kwargs"]["unit"] for e in entries if e["fact"] == "groundwork.facts.systemd:SystemdUnit"]
units += ["sshd.service", "ssh", "getty@tty1.service", "groundwork-no-such.service", "-.mount",
          "dev-disk-by\\x2dlabel-groundwork.device", "systemd-journald.socket"]


def unit_blocks(command: str) -> list[dict]:
    ok, output = real_host.run_shell_command(StringCommand(command))
    if not ok:
        raise PyinfraError(f"failed: {command[:80]}")
    blocks = [block for block in factcache.split_on(output.stdout_lines, "") if block]
    return [dict(line.split("=", 1) for line in block) for block in blocks]


ours, shown = unit_blocks(systemd.units_command(units)), unit_blocks(f"{systemd.SHOW} -- " + " ".join(map(shlex.quote, units)))
if len(ours) != len(units) or ours != shown:
    differ.append(f"SystemdUnit of {units}: {ours} != systemctl show's {shown}")
if differ:
    raise PyinfraError("batched reads differ from single reads:\n" + "\n".join(differ))
if kept < len(entries) * 0.9:
    raise PyinfraError(f"the batch answered only {kept} of {len(entries)} reads")
host.noop(f"state read parity: {kept} of {len(entries)} reads batched, all equal to single reads; "
          f"{len(units)} units read as systemctl show reads them")
