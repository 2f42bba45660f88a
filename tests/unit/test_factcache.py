"""The per-run fact cache and the one-command state read (groundwork.factcache).

These run pyinfra against this machine through its @local connector: the reads
are real commands, counted where they reach the connector, and every cached or
batched value is compared with what pyinfra reads on its own.
"""

from __future__ import annotations

import json
import os

import pytest
from pyinfra.api import Config, FactBase, Inventory, State
from pyinfra.api.connect import connect_all, disconnect_all
from pyinfra.context import ctx_host, ctx_state
from pyinfra.facts import files as pyinfra_files
from pyinfra.facts import server as pyinfra_server

from groundwork import factcache, redaction
from groundwork.facts.files import FileSummary


class Failing(FactBase):
    """A read that exits non-zero: pyinfra fails the host, the batch must not hide that."""

    def command(self):
        return "echo partial; exit 3"


class NeedsMissing(FactBase):
    @staticmethod
    def default():
        return "default"

    def requires_command(self):
        return "groundwork-no-such-command"

    def command(self):
        return "groundwork-no-such-command --version"


class Lines(FactBase):
    """Output as given, to check the batch splits reads exactly as pyinfra does."""

    def command(self, text: str):
        return f"printf {text}"

    def process(self, output):
        return list(output)


class Counting:
    """Counts the commands that reach a host's connector."""

    def __init__(self, host):
        self.commands: list[str] = []
        connector_run = host.connector.run_shell_command

        def run(command, **kwargs):
            self.commands.append(str(command))
            return connector_run(command, **kwargs)

        host.connector.run_shell_command = run


@pytest.fixture
def local(tmp_path, monkeypatch):
    """A connected pyinfra state with the local machine as its one host; the cache installed."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("GROUNDWORK_FACT_CACHE", raising=False)
    states = []

    def make():
        inventory = Inventory((["@local"], {}))
        state = State(inventory, Config())
        state.current_stage = state.current_stage.__class__.Prepare
        with ctx_state.use(state):
            connect_all(state)
        host = inventory.get_host("@local")
        states.append(state)
        return state, host, Counting(host)

    yield make
    for state in states:
        with ctx_state.use(state):
            disconnect_all(state)
    factcache.uninstall()


def read(state, host, cls, *args, **kwargs):
    with ctx_state.use(state), ctx_host.use(host):
        return host.get_fact(cls, *args, **kwargs)


def one_file_and_a_run(local, tmp_path):
    """A file on this machine, and a run with the cache begun for it: (path, state, host, counted)."""
    path = tmp_path / "f"
    path.write_text("one\n")
    state, host, counted = local()
    factcache.begin(host, "test")
    return path, state, host, counted


def test_a_fact_is_read_once_while_the_host_is_unchanged(local, tmp_path):
    path, state, host, counted = one_file_and_a_run(local, tmp_path)
    first = read(state, host, FileSummary, path=str(path))
    again = read(state, host, FileSummary, path=str(path))
    assert first == again and first["sha256"]
    assert len(counted.commands) == 1


def test_any_other_command_on_the_host_makes_the_next_read_fresh(local, tmp_path):
    path, state, host, _ = one_file_and_a_run(local, tmp_path)
    before = read(state, host, FileSummary, path=str(path))
    with ctx_state.use(state), ctx_host.use(host):
        assert host.run_shell_command(f"echo two > {path}")[0]
    after = read(state, host, FileSummary, path=str(path))
    assert after["sha256"] != before["sha256"]
    live = factcache._ORIGINAL["get_fact"](host, FileSummary, path=str(path))
    assert after == live


def test_the_next_run_reads_the_last_runs_facts_in_one_command(local, tmp_path):
    paths = [tmp_path / f"f{i}" for i in range(30)]
    for i, path in enumerate(paths):
        path.write_text(f"{i}\n")
    (tmp_path / "d").mkdir()
    (tmp_path / "with space's").write_text("x")
    (tmp_path / "link").symlink_to(paths[0])
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    state, host, _ = local()
    factcache.begin(host, "test")
    reads = [(FileSummary, (), {"path": str(p)}) for p in paths] + [
        (pyinfra_files.Directory, (), {"path": str(tmp_path / "d")}),
        (pyinfra_files.Directory, (), {"path": str(paths[0])}),  # a file: False
        (pyinfra_files.File, (), {"path": str(tmp_path / "missing")}),
        (pyinfra_files.File, (), {"path": str(tmp_path / "with space's")}),
        (pyinfra_files.File, (), {"path": str(paths[1])}),
        (pyinfra_files.Link, (), {"path": str(tmp_path / "link")}),
        (pyinfra_files.Link, (), {"path": str(tmp_path / "dangling")}),
        (pyinfra_files.Link, (), {"path": str(paths[2])}),
        (pyinfra_server.Users, (), {}),
        # its process() reads what its command() kept on the fact object
        (pyinfra_files.FindInFile, (), {"path": str(paths[3]), "pattern": "^3$"}),
        (pyinfra_files.FindInFile, (), {"path": str(paths[3]), "pattern": "^nothing$"}),
        (Lines, (), {"text": "'a\\n\\nb'"}),
        (Lines, (), {"text": "'a\\n\\n'"}),
        (Lines, (), {"text": "''"}),
    ]
    first = [read(state, host, cls, *args, **kwargs) for cls, args, kwargs in reads]
    with ctx_state.use(state):
        disconnect_all(state)  # the end of a run: the reads are saved

    saved = json.loads(next((tmp_path / "cache" / "groundwork" / "reads").iterdir()).read_text())
    # the 30 file summaries, the stat reads and their kind: a command each, not one per read
    assert len(factcache._items(saved)) == len(reads) - 30 - 8 + 4

    state2, host2, counted = local()
    factcache.begin(host2, "test")
    assert len(counted.commands) == 1  # the batch
    second = [read(state2, host2, cls, *args, **kwargs) for cls, args, kwargs in reads]
    assert len(counted.commands) == 1
    assert second == first
    # ... and each is what pyinfra reads alone
    alone = [factcache._ORIGINAL["get_fact"](host2, cls, *args, **kwargs) for cls, args, kwargs in reads]
    assert second == alone
    assert alone[-3:] == [["a", "", "b"], ["a", ""], FactBase.default() or Lines.default()]
    assert alone[-5:-3] == [["3"], []]
    with ctx_state.use(state2):
        disconnect_all(state2)

    # a run answered wholly by the batch saves the same reads for the next one
    state3, host3, counted3 = local()
    assert factcache.begin(host3, "test").batched == len(reads)
    assert len(counted3.commands) == 1


def test_a_read_the_batch_cannot_answer_exactly_is_read_alone(local, tmp_path):
    state, host, _ = local()
    factcache.begin(host, "test")
    assert read(state, host, NeedsMissing) == "default"
    with ctx_state.use(state):
        disconnect_all(state)
    saved = json.loads(next((tmp_path / "cache" / "groundwork" / "reads").iterdir()).read_text())
    assert {"fact": f"{__name__}:NeedsMissing", "args": [], "kwargs": {}} in saved

    state2, host2, counted = local()
    reads = factcache.begin(host2, "test")
    assert reads.batched == 0 and len(counted.commands) == 1
    assert read(state2, host2, NeedsMissing) == "default"
    assert len(counted.commands) == 2  # read alone, as pyinfra would


def test_a_failing_read_still_fails_the_host(local):
    state, host, _ = local()
    factcache.begin(host, "test")
    with pytest.raises(Exception, match="No hosts remaining"):
        read(state, host, Failing)
    assert host in state.failed_hosts


def test_reads_holding_a_secret_are_never_saved(local, tmp_path):
    redaction.register(["groundwork-test-secret-value"])
    state, host, _ = local()
    factcache.begin(host, "test")
    read(state, host, FileSummary, path="/nonexistent/groundwork-test-secret-value")
    read(state, host, FileSummary, path="/nonexistent/plain")
    with ctx_state.use(state):
        disconnect_all(state)
    saved = next((tmp_path / "cache" / "groundwork" / "reads").iterdir())
    assert "groundwork-test-secret-value" not in saved.read_text()
    assert "/nonexistent/plain" in saved.read_text()
    assert os.stat(saved).st_mode & 0o077 == 0


def test_turned_off_it_reads_as_pyinfra_does(local, tmp_path, monkeypatch):
    monkeypatch.setenv("GROUNDWORK_FACT_CACHE", "0")
    state, host, counted = local()
    assert factcache.begin(host, "test") is None
    read(state, host, FileSummary, path=str(tmp_path))
    read(state, host, FileSummary, path=str(tmp_path))
    assert len(counted.commands) == 2


@pytest.mark.parametrize(("lines", "expected"), [
    (["T 0", "a", "", "T 0 0"], {0: (0, ["a"])}),  # "a\n" then the marker's own newline
    (["T 0", "a", "T 0 0"], {0: (0, ["a"])}),  # "a" without a final newline
    (["T 0", "a", "", "", "T 0 0"], {0: (0, ["a", ""])}),
    (["T 0", "", "T 0 1", "T 1", "x", "", "T 1 0"], {0: (1, []), 1: (0, ["x"])}),
    (["T 0", "half"], {}),  # cut short: no status, nothing kept
    (["T 0", "T 1 0"], {}),  # a status for another read
])
def test_parse_batch(lines, expected):
    assert factcache.parse_batch(lines, "T") == expected


def _entry_of(cls, **kwargs):
    return {"fact": f"{cls.__module__}:{cls.__qualname__}", "args": [], "kwargs": kwargs}


def test_a_servers_postgres_reads_are_one_psql_session():
    from groundwork.components.monitoring.facts import PostgresMonitorRole
    from groundwork.components.postgres import facts as pg

    entries = [
        _entry_of(pg.PostgresExtensions, database="app", port=5432, version=17),
        _entry_of(pg.PostgresRoles, port=5432, version=17),
        _entry_of(PostgresMonitorRole, port=5432, version=17),
        _entry_of(pg.PostgresDatabases, port=5433, version=17),  # another server: a session of its own
    ]
    items = factcache._items(entries)
    assert [len(item.reads) for item in items] == [3, 1]
    session = items[0].script
    assert session.count("runuser") == 1 and "-v ON_ERROR_STOP=1" in session and "-d app " in session
    assert session.count("-c '\\c postgres'") == 1  # app's read first, then one move to postgres

    # rows in the session's order (app first); each read gets its own, as read alone
    roles, monitor = ["postgres\tt\tt\tt\tt\tt\t-1\t"], ["t\tt\tf"]
    split = items[0].split(["plpgsql\t1.0", "vector\t0.8.0", pg._NEXT_READ, *roles, pg._NEXT_READ, *monitor,
                            pg._NEXT_READ])
    assert split == [["plpgsql\t1.0", "vector\t0.8.0"], roles, monitor]
    assert items[0].split([]) == [[], [], []]  # no server on the port: each read prints nothing
    assert items[0].split(["plpgsql\t1.0", pg._NEXT_READ]) is None  # cut short: each read alone

    # a database name \c would need quoted: those reads are made alone, each as pyinfra would
    odd = factcache._items([entries[1], _entry_of(pg.PostgresExtensions, database="my-app", port=5432, version=17)])
    assert [len(item.reads) for item in odd] == [1, 1]
    assert all("ON_ERROR_STOP" not in item.script for item in odd)
    assert odd[1].script == pg.PostgresExtensions().command("my-app", 5432, 17)


def as_pyinfra_reads(output: bytes) -> list[str]:
    """Lines as pyinfra reads them: split at newlines, a final newline ending the last line."""
    lines = output.decode().split("\n")
    return lines[:-1] if lines[-1] == "" else lines


# printf text: no final newline, empty lines, a carriage return, UTF-8 and a long line
TRICKY = r"'a\n\nb\r\nd\303\251j\303\240 %s\nlast' " + "x" * 5000


@pytest.mark.parametrize("path", [os.environ.get("PATH", "/usr/bin:/bin"), "/nonexistent"])  # without gzip/base64
def test_packed_output_reads_as_the_plain_output(path):
    import subprocess

    plain = subprocess.run(["/bin/sh", "-c", f"printf {TRICKY}"], capture_output=True, check=True).stdout
    run = subprocess.run(["/bin/sh", "-c", factcache.packed(f"printf {TRICKY}\n")], capture_output=True, check=True,
                         env={"PATH": path})
    lines = as_pyinfra_reads(run.stdout)
    assert (lines[0] == factcache._PACKED) == (path != "/nonexistent")
    assert factcache.unpacked(lines) == as_pyinfra_reads(plain)
    assert len(lines) < 100 or path == "/nonexistent"


def test_a_reads_entry_is_checked_again_once_a_secret_is_registered():
    # the entry of a read is made once for every host of a run, until a secret is registered
    path = "/nonexistent/groundwork-registered-later-1"
    assert factcache._entry(FileSummary, (), {"path": path}) is not None
    redaction.register(["groundwork-registered-later-1"])
    assert factcache._entry(FileSummary, (), {"path": path}) is None


@pytest.mark.parametrize(("cls", "args", "kwargs"), [
    (FileSummary, ("/etc/motd",), {}),
    (FileSummary, (), {"path": "/etc/motd"}),
    (pyinfra_files.FindInFile, ("/etc/motd", "^x"), {}),
    (pyinfra_files.FindInFile, (), {"path": "/etc/motd", "pattern": "^x", "interpolate_variables": True}),
    (pyinfra_server.LinuxDistribution, (), {}),
    (Lines, ("abc",), {}),
])
def test_a_reads_arguments_are_bound_as_getcallargs_binds_them(cls, args, kwargs):
    import inspect

    fact = cls()
    expected = inspect.getcallargs(fact.command, *args, **kwargs)
    expected.pop("self", None)
    assert factcache._bound(fact, args, kwargs) == expected


def test_arguments_a_fact_does_not_take_are_not_bound():
    assert factcache._bound(FileSummary(), (), {"no_such": 1}) is None
    assert factcache._bound(FileSummary(), ("a", "b"), {}) is None


def test_a_kept_value_is_a_copy_the_caller_may_change():
    value = {"names": ["a", "b"], "nested": {"k": [1, 2]}, "pair": (1, [2]), "n": 3, "s": "x", "none": None}
    copied = factcache._copy(value)
    assert copied == value
    copied["names"].append("c")
    copied["nested"]["k"].append(3)
    copied["pair"][1].append(4)
    assert value == {"names": ["a", "b"], "nested": {"k": [1, 2]}, "pair": (1, [2]), "n": 3, "s": "x", "none": None}
