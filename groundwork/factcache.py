"""One read of a host's state per run, and no fact read twice while the host is unchanged.

pyinfra 3 keeps no fact cache: an operation reads its facts when it is planned,
and again when it is executed, one SSH command (2-3 round trips) per read. On a
no-op re-converge those reads were every remote command of the run. Here, for
the hosts a groundwork deploy runs on (`begin`):

- a fact read is kept, by fact, arguments and how it runs (sudo, user, env), and
  answers every later read of the same fact until the host changes;
- the host changes when anything but a fact read runs on it (a command, an
  upload, a download, whichever operation sends it): that drops every value
  kept for the host, so what an operation changes is read fresh by every read
  after it (and a dry run, which changes nothing, sees the state as it is);
- the reads the last run of the same deploy made on the host are made first,
  together, in one command (a few for a very long list) before the first fact:
  the list is kept on the control machine (`reads_dir()`), names facts and
  arguments only, and leaves out any read whose arguments hold a secret.

A read the batch could not answer exactly as pyinfra would (a non-zero exit, a
missing command, output its fact cannot process) is not kept from the batch:
pyinfra reads it on its own when it is asked for, errors and all.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import gzip
import hashlib
import importlib
import inspect
import json
import logging
import os
import secrets
import shlex
import zlib
from pathlib import Path
from typing import Any

import gevent
from pyinfra.api import FactBase, StringCommand
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS, pop_global_arguments
from pyinfra.api.host import Host
from pyinfra.api.state import BaseStateCallback
from pyinfra.facts import files as pyinfra_files

from . import redaction
from .facts.files import FileSummary
from .facts.systemd import SystemdUnit, units_command
from .paths import control_cache_dir

logger = logging.getLogger(__name__)

# One shell argument stays well under Linux's 128 KiB limit for a single argument (sh -c '...').
BATCH_BYTES = 60_000
_CHANGING = ("run_shell_command", "put_file", "get_file", "rsync")  # whatever runs on the host
_ORIGINAL = {name: getattr(Host, name) for name in ("get_fact", *_CHANGING)}


def reads_dir() -> Path:
    return control_cache_dir() / "reads"


class HostReads:
    """What is known of one host in one run."""

    def __init__(self, host: Host, deploy: str):
        self.host = host
        self.manifest = reads_dir() / (hashlib.sha256(f"{host.name}\0{deploy}".encode()).hexdigest()[:24] + ".json")
        self.values: dict[tuple, Any] = {}
        self.entries: dict[tuple, str | None] = {}  # key -> its manifest entry (JSON), None if never saved
        self.used: dict[tuple, None] = {}  # the keys read this run, in order
        self.reading: set[int] = set()  # greenlets reading a fact of this host now
        self.defaults = _connector_arguments(host, None)
        self.batched = 0  # values the batch answered (for the debug log and tests)

    # the host changed: nothing read before is known any more
    def forget(self) -> None:
        if self.values:
            logger.debug("%s changed: %d fact values dropped", self.host.name, len(self.values))
        self.values.clear()

    def is_reading(self) -> bool:
        return id(gevent.getcurrent()) in self.reading

    @contextlib.contextmanager
    def reading_now(self):
        """What runs on the host inside this block is a read, not a change."""
        me = id(gevent.getcurrent())
        self.reading.add(me)
        try:
            yield
        finally:
            self.reading.discard(me)


def _connector_arguments(host: Host, op_arguments: dict | None) -> tuple:
    """How a fact read runs (sudo, su, env, ...), as a hashable key."""
    if op_arguments is None:
        op_arguments, _ = pop_global_arguments(host.state, host, {})
    return tuple((key, repr(op_arguments.get(key))) for key in sorted(CONNECTOR_ARGUMENT_KEYS))


def _fact_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


_ENTRIES: dict[tuple, tuple[tuple, str | None]] = {}  # _key()[:3] -> (redaction.registered() then, _entry_text)


def _entry(cls: type, args: tuple, kwargs: dict) -> str | None:
    """The manifest entry of a read, as canonical JSON; None if it is not plain data or holds
    a secret. Made once per read per run for all hosts, again when a secret was registered since."""
    key = _key(cls, args, kwargs, ())[:3]
    secrets_now = redaction.registered()
    known = _ENTRIES.get(key)
    if known is None or known[0] is not secrets_now:
        known = _ENTRIES[key] = (secrets_now, _entry_text(cls, args, kwargs))
    return known[1]


def _entry_text(cls: type, args: tuple, kwargs: dict) -> str | None:
    try:
        text = json.dumps({"fact": _fact_path(cls), "args": list(args), "kwargs": kwargs}, sort_keys=True)
    except (TypeError, ValueError):
        return None
    if json.loads(text) != {"fact": _fact_path(cls), "args": list(args), "kwargs": kwargs}:
        return None  # tuples and the like would not come back as they went
    if redaction.mask_text(text) != text:
        return None
    return text


def _key(cls: type, args: tuple, kwargs: dict, connector: tuple) -> tuple:
    return (cls, repr(args), repr(sorted(kwargs.items())), connector)


def _reads_of(host: Host) -> HostReads | None:
    reads = getattr(host, "_groundwork_reads", None)
    return reads if reads is not None and reads.host.state is host.state else None


# --- the Host methods, as installed by begin() ---------------------------------------


def _get_fact(self: Host, cls, *args, **kwargs):
    reads = _reads_of(self)
    if (reads is None or not isinstance(cls, type) or not issubclass(cls, FactBase)
            or any(key.startswith("_") for key in kwargs) or cls.shell_executable):
        return _ORIGINAL["get_fact"](self, cls, *args, **kwargs)
    op_arguments = self.current_op_global_arguments
    connector = reads.defaults if op_arguments is None else _connector_arguments(self, op_arguments)
    key = _key(cls, args, kwargs, connector)
    reads.used[key] = None
    if key in reads.values:
        return _copy(reads.values[key])
    with reads.reading_now():
        value = _ORIGINAL["get_fact"](self, cls, *args, **kwargs)
    # A failed read may have failed the host; keep nothing of it.
    if self not in self.state.failed_hosts:
        reads.values[key] = _copy(value)
        if key not in reads.entries:
            reads.entries[key] = _entry(cls, args, kwargs) if connector == reads.defaults else None
    return value


_IMMUTABLE = (str, int, float, bool, type(None), bytes)


def _copy(value):
    """A value kept for later reads, copied so a caller's changes stay its own: deepcopy's,
    without its cost for the plain strings, numbers, lists and dicts most facts are."""
    if isinstance(value, _IMMUTABLE):
        return value
    if type(value) is dict:
        return {k: v if isinstance(v, _IMMUTABLE) else _copy(v) for k, v in value.items()}
    if type(value) is list:
        return [v if isinstance(v, _IMMUTABLE) else _copy(v) for v in value]
    return copy.deepcopy(value)


def _changing(name: str):
    original = _ORIGINAL[name]

    def method(self: Host, *args, **kwargs):
        reads = _reads_of(self)
        if reads is not None and not reads.is_reading():
            reads.forget()
        return original(self, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = original.__doc__
    return method


def install() -> bool:
    """Put the caching methods on pyinfra's Host (idempotent); they do nothing for a host until
    `begin`. False, and nothing done, when something else already replaced Host.get_fact (the
    offline renderer's canned facts) or GROUNDWORK_FACT_CACHE=0 turns it off."""
    if os.environ.get("GROUNDWORK_FACT_CACHE", "1") == "0" or Host.get_fact not in (_ORIGINAL["get_fact"], _get_fact):
        return False
    Host.get_fact = _get_fact
    for name in _CHANGING:
        if getattr(Host, name) is _ORIGINAL[name]:
            setattr(Host, name, _changing(name))
    return True


def uninstall() -> None:
    for name, method in _ORIGINAL.items():
        setattr(Host, name, method)


# --- per host and run ----------------------------------------------------------------------


def begin(host: Host, deploy: str) -> HostReads | None:
    """Keep fact values of `host` for the rest of this run, starting with one batch of the
    reads the last run of `deploy` made there. Idempotent within a run."""
    if not install():
        return None
    reads = _reads_of(host)
    if reads is not None:
        return reads
    reads = HostReads(host, deploy)
    host._groundwork_reads = reads
    if not _has_saver(host.state):
        host.state.add_callback_handler(_SaveOnDisconnect())
    entries = _load(reads.manifest)
    if entries:
        read_batch(reads, entries)
    return reads


def _load(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []


def save(reads: HostReads) -> None:
    """The reads of this run, for the next run's batch (written whole, then renamed into place)."""
    saved = [json.loads(entry) for key in reads.used if (entry := reads.entries.get(key))]
    if not saved:
        return
    directory = reads.manifest.parent
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = reads.manifest.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(saved, out)
    os.replace(tmp, reads.manifest)


def _has_saver(state) -> bool:
    return any(isinstance(handler, _SaveOnDisconnect) for handler in getattr(state, "callback_handlers", ()))


class _SaveOnDisconnect(BaseStateCallback):
    """pyinfra disconnects every host at the end of a run: the run's reads are complete then."""

    @staticmethod
    def host_disconnect(state, host):
        reads = _reads_of(host)
        if reads is not None:
            try:
                save(reads)
            except OSError as exc:
                logger.debug("fact reads of %s not saved: %s", host.name, exc)


# --- the batch ------------------------------------------------------------------------------


def _resolve(entry: dict) -> tuple[type, tuple, dict] | None:
    module, _, qualname = str(entry.get("fact", "")).partition(":")
    try:
        cls: Any = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
    except (ImportError, AttributeError, ValueError):
        return None
    if not (isinstance(cls, type) and issubclass(cls, FactBase)) or cls.shell_executable:
        return None
    args, kwargs = entry.get("args", []), entry.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        return None
    return cls, tuple(args), kwargs


def _raw(command) -> str | None:
    if command is None or isinstance(command, str):
        return command
    if isinstance(command, StringCommand):
        return command.get_raw_value()
    return None


_SIGNATURES: dict[type, inspect.Signature] = {}  # fact class -> its command's, looked up once per run


def _bound(fact: FactBase, args: tuple, kwargs: dict) -> dict | None:
    """The command's arguments by name, defaults filled in (as inspect.getcallargs gives them)."""
    if not callable(fact.command):
        return {}
    signature = _SIGNATURES.get(type(fact))
    if signature is None:
        signature = _SIGNATURES[type(fact)] = inspect.signature(fact.command, follow_wrapped=False)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return None
    bound.apply_defaults()
    return dict(bound.arguments)


def fact_script(cls: type, args: tuple, kwargs: dict) -> tuple[FactBase, str] | None:
    """The fact object and the shell text pyinfra would run for this read (with its
    missing-command guard). Some facts keep what their command was built from for their
    `process` (pyinfra's FindInFile): the same object processes the output."""
    fact = cls()
    bound = _bound(fact, args, kwargs)
    if bound is None:
        return None
    try:
        command = _raw(fact.command(**bound) if callable(fact.command) else fact.command)
        requires = _raw(fact.requires_command(**bound) if callable(fact.requires_command) else fact.requires_command)
    except Exception:  # a fact that cannot build its command now is read on its own, later
        return None
    if command is None:
        return None
    if requires:
        return fact, f"if command -v {requires} >/dev/null 2>&1; then ( {command} ); else exit 127; fi"
    return fact, command


class _Item:
    """One command of the batch: a single read, or several reads of a fact in `_COMBINED`."""

    def __init__(self, reads: list[tuple], script: str, split=None):
        self.reads = reads  # (cls, args, kwargs, fact object)
        self.script = script
        self.split = split or (lambda lines: [lines])


# --- facts read many at once: (combined command, split into each read's lines) --------------


def _paths_command(reads: list[tuple], test: str, commands: list[str]) -> str:
    """The indexes of the reads' paths that pass `test` (on "$p"), then, after a "--" line
    each, what every one of `commands` prints for those paths (on "$@"), a line per path."""
    if any(not isinstance(bound.get("path"), str) or bound["path"].startswith("~") for _, bound in reads):
        raise ValueError("a path the fact itself expands")  # read alone
    paths = " ".join(shlex.quote(bound["path"]) for _, bound in reads)
    return f'set --; i=0; for p in {paths}; do if {test}; then echo "$i"; set -- "$@" "$p"; fi; i=$((i+1)); done' + "".join(
        f'; echo --; if [ $# -gt 0 ]; then {command}; fi' for command in commands)


def split_on(lines: list[str], separator: str) -> list[list[str]]:
    parts: list[list[str]] = [[]]
    for line in lines:
        if line == separator:
            parts.append([])
        else:
            parts[-1].append(line)
    return parts


def _paths_split(lines: list[str], reads: list[tuple]) -> list[list[str]] | None:
    """Each read's lines from _paths_command's output: one line per command for a path that
    passed the test, none for the others (as each read alone prints)."""
    present, *printed = split_on(lines, "--")
    if not printed or any(len(section) != len(present) for section in printed):
        return None
    if not all(i.isdigit() and int(i) < len(reads) for i in present):
        return None
    outputs: list[list[str]] = [[] for _ in reads]
    for row, index in enumerate(present):
        outputs[int(index)] = [section[row] for section in printed]
    return outputs


def _pyinfra_stat(reads: list[tuple]) -> str:
    """pyinfra's File, Link and Directory: a GNU stat line for each path that exists or is a link."""
    return _paths_command(reads, 'test -e "$p" || test -L "$p"', [f'{pyinfra_files.LINUX_STAT_COMMAND} -- "$@"'])


def _file_summary(reads: list[tuple]) -> str:
    """FileSummary: owner, group and mode, then the SHA-256, of each path that is a regular file."""
    return _paths_command(reads, '[ -f "$p" ] && [ ! -L "$p" ]', [
        "stat -c '%U %G %a' -- \"$@\"", "sha256sum -- \"$@\" | cut -d' ' -f1"])


def _systemd_units(reads: list[tuple]) -> str:
    """SystemdUnit: one command prints a block of properties per unit, in the order asked."""
    return units_command([bound["unit"] for _, bound in reads])


def _blocks_split(lines: list[str], reads: list[tuple]) -> list[list[str]] | None:
    blocks = [block for block in split_on(lines, "") if block]
    return blocks if len(blocks) == len(reads) else None


# fact class (or a base of several) -> (one command for its reads, that command's output
# split into each read's lines, which reads can share a command: None for all)
_COMBINED: dict[type, tuple] = {
    pyinfra_files.File: (_pyinfra_stat, _paths_split, None),
    pyinfra_files.Link: (_pyinfra_stat, _paths_split, None),
    pyinfra_files.Directory: (_pyinfra_stat, _paths_split, None),
    FileSummary: (_file_summary, _paths_split, None),
    SystemdUnit: (_systemd_units, _blocks_split, None),
}


def combine(base: type, command, split, group=None) -> None:
    """Read the batch's reads of `base` (a fact class, or a base of several) together:
    `command([(fact, bound arguments)])` is one shell command for them, `split(lines,
    reads)` its output as each read's lines (None: read each alone), and reads share a
    command when `group(fact, bound arguments)` is equal (all, without it). A command
    that cannot be built for its reads raises: they are read alone."""
    _COMBINED[base] = (command, split, group)


def _combining(cls: type) -> type | None:
    """The key in _COMBINED that combines reads of `cls`, if any."""
    return next((base for base in cls.__mro__ if base in _COMBINED), None)


def _alone(cls: type, args: tuple, kwargs: dict) -> list[_Item]:
    """The read as an item of its own (none if its command cannot be built)."""
    built = fact_script(cls, args, kwargs)
    return [_Item([(cls, args, kwargs, built[0])], built[1])] if built is not None else []


def _items(entries: list[dict]) -> list[_Item]:
    items: list[_Item] = []
    combined: dict[tuple, list[tuple]] = {}
    for entry in entries:
        resolved = _resolve(entry)
        if resolved is None:
            continue
        cls, args, kwargs = resolved
        combiner = _combining(cls)
        if combiner is not None:
            fact = cls()
            bound = _bound(fact, args, kwargs)
            if bound is not None:
                group_of = _COMBINED[combiner][2]
                try:
                    group = group_of(fact, bound) if group_of else None
                except Exception:  # arguments the fact cannot take: read alone (and fail there)
                    items += _alone(cls, args, kwargs)
                    continue
                combined.setdefault((combiner, group), []).append((cls, args, kwargs, fact, bound))
                continue
        items += _alone(cls, args, kwargs)
    for (combiner, _), group in combined.items():
        command, split, _ = _COMBINED[combiner]
        reads = [(read[3], read[4]) for read in group]
        try:
            script = command(reads)
        except Exception:  # each read alone, then
            items += [item for read in group for item in _alone(*read[:3])]
            continue
        items.append(_Item([read[:4] for read in group], script,
                           lambda lines, split=split, reads=reads: split(lines, reads)))
    return items


def batch_script(items: list[tuple[int, _Item]], token: str, parallel: int = 2) -> str:
    """The shell text reading `items`: each between its markers, in `parallel` groups that run
    at once (each into a file of its own, printed in turn: their lines never interleave)."""
    def part(group):
        return "".join(
            f"echo '{token} {i}'; ( {item.script}\n) </dev/null 2>/dev/null; printf '\\n{token} {i} %s\\n' $?\n"
            for i, item in group
        )

    groups = [items[n::parallel] for n in range(parallel) if items[n::parallel]]
    if len(groups) == 1:
        return part(groups[0])
    files = " ".join(f'"$d/{n}"' for n in range(len(groups)))
    return (
        "d=$(mktemp -d) || exit 1\n"
        + "".join(f'{{\n{part(group)}}} >"$d/{n}" &\n' for n, group in enumerate(groups))
        + f'wait\ncat {files}\nrm -rf "$d"\n'
    )


_PACKED = "groundwork-packed-output"


def packed(script: str) -> str:
    """`script`, its output gzipped and in base64 when the host has both (they are in
    Debian's and Ubuntu's essential set): a few hundred long lines for the ~1000 short
    ones of a whole stack's read, each of which costs Python on the control machine
    (paramiko's readline, pyinfra's line queue) and ~5 times the bytes on the wire."""
    return (
        "groundwork_read_state() {\n" + script + "}\n"
        "if command -v gzip >/dev/null 2>&1 && command -v base64 >/dev/null 2>&1; then "
        f"echo {_PACKED}; groundwork_read_state | gzip -1 | base64; else groundwork_read_state; fi\n"
    )


def unpacked(lines: list[str]) -> list[str]:
    """The output lines of `packed`'s script, as the script alone would have printed them
    (and pyinfra read them: split at newlines, a final newline ending the last line)."""
    if not lines or lines[0] != _PACKED:
        return lines
    text = gzip.decompress(base64.b64decode("".join(lines[1:]), validate=True)).decode("utf-8")
    out = text.split("\n")
    if out[-1] == "":
        out.pop()
    return out


def read_batch(reads: HostReads, entries: list[dict]) -> int:
    """Read `entries` of reads.host in as few commands as fit; keep each value pyinfra would
    have got from the read alone. Returns how many are kept."""
    host = reads.host
    items = _items(entries)
    if not items:
        return 0
    if not host.connected:
        host.connect(reason="to read its state", raise_exceptions=True)
    token = secrets.token_hex(8)
    kept = 0
    chunks = _chunks(items)
    for chunk in chunks:
        # The connector may run commands of its own through the Host (sudo's askpass
        # helper): those are part of this read, not a change of the host.
        try:
            with reads.reading_now():
                ok, output = _ORIGINAL["run_shell_command"](host, StringCommand(packed(batch_script(chunk, token))))
        except Exception as exc:  # the reads then happen one by one, as without the batch
            logger.debug("state read of %s failed: %s", host.name, exc)
            return kept
        if not ok:
            logger.debug("state read of %s exited non-zero", host.name)
            continue
        try:
            results = parse_batch(unpacked(output.stdout_lines), token)
        except (ValueError, OSError, EOFError, zlib.error) as exc:  # binascii's and UTF-8's errors are ValueErrors
            logger.debug("state read of %s: output not readable: %s", host.name, exc)
            continue
        for i, item in chunk:
            status, lines = results.get(i, (None, None))
            if status != 0:
                continue
            try:
                outputs = item.split(lines)
            except Exception:
                outputs = None
            if outputs is None or len(outputs) != len(item.reads):
                continue
            for (cls, args, kwargs, fact), lines_of_read in zip(item.reads, outputs):
                try:
                    value = fact.process(lines_of_read) if lines_of_read else fact.default()
                except Exception:
                    continue
                key = _key(cls, args, kwargs, reads.defaults)
                reads.values[key] = value
                reads.entries[key] = _entry(cls, args, kwargs)
                kept += 1
    reads.batched += kept
    logger.debug("state read of %s: %d facts in %d commands", host.name, kept, len(chunks))
    return kept


def _chunks(items: list[_Item]) -> list[list[tuple[int, _Item]]]:
    chunks: list[list] = [[]]
    size = 0
    for i, item in enumerate(items):
        if chunks[-1] and size + len(item.script) > BATCH_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append((i, item))
        size += len(item.script) + 80
    return chunks


def parse_batch(lines: list[str], token: str) -> dict[int, tuple[int, list[str]]]:
    """{index: (exit status, stdout lines)} from a batch's output.

    Each read's output sits between "TOKEN i" and "TOKEN i STATUS"; the end marker is
    printed after a newline, so output without a final newline ends the line before it
    (that blank line is not the read's)."""
    results: dict[int, tuple[int, list[str]]] = {}
    current: int | None = None
    collected: list[str] = []
    for line in lines:
        words = line.split(" ")
        if len(words) in (2, 3) and words[0] == token and words[1].isdigit():
            index = int(words[1])
            if len(words) == 2:
                current, collected = index, []
            elif current == index and words[2].lstrip("-").isdigit():
                if collected and collected[-1] == "":
                    collected.pop()
                results[index] = (int(words[2]), collected)
                current = None
            continue
        if current is not None:
            collected.append(line)
    return results
