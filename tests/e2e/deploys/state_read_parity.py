"""Every read the last `deploys/full.py` run saved for this host, read twice: in the one
batched state read and alone, as pyinfra reads it. Fails naming every read whose two
values differ (tests/e2e/test_full_converge.py). Changes nothing on the host."""

from pyinfra import host
from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import ctx_host

from groundwork import factcache

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
if differ:
    raise PyinfraError("batched reads differ from single reads:\n" + "\n".join(differ))
if kept < len(entries) * 0.9:
    raise PyinfraError(f"the batch answered only {kept} of {len(entries)} reads")
host.noop(f"state read parity: {kept} of {len(entries)} reads batched, all equal to single reads")
