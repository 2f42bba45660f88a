"""deploys/backups.py on two lab hosts: db1 (Postgres + Redis) backs up to bk1 (group `backup`).

Rows with embeddings survive backup → drop → restore; a truncated dump fails
the drill; retention keeps N runs and a failed run deletes nothing; the copy on
bk1 is encrypted and restores; re-converge changes nothing. The age key pair is
made on bk1 for this module; its private key lives only in this process and
travels to db1 on stdin for a restore.

Replaces the session's lab and leaves a fresh lab1 behind.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from groundwork.lab import lab
from groundwork.lab.lab import run_on
from groundwork.testing.converge import converge
from groundwork.testing.verify import count_tests, run_verify

LAB_INVENTORY = "inventories/lab.py"
KEEP = 3
HOOK_PORT = 18089
HOOK_TOKEN = "hook-token-e2e-not-secret-7f3a"
HOOK_URL = f"http://127.0.0.1:{HOOK_PORT}/ping/{HOOK_TOKEN}"
HOOK_LOG = "/root/webhook-calls.jsonl"
BACKUP_DIR = "/var/backups/groundwork"
REMOTE_DIR = "/srv/backups/db1"
PSQL = "runuser -u postgres -- psql -X -A -t -v ON_ERROR_STOP=1"
MAGIC = "age-encryption.org/v1"

# A webhook receiver on db1's loopback, started by this module: one JSON line per POST.
HOOK_SERVER = f"""
import http.server, json
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        with open({HOOK_LOG!r}, 'ab') as f:
            f.write(json.dumps({{'path': self.path, 'body': body.decode()}}).encode() + b'\\n')
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(('127.0.0.1', {HOOK_PORT}), H).serve_forever()
"""


def ok(name: str, command: str, timeout: float = 120, stdin: str | None = None) -> str:
    proc = run_on(name, command, timeout=timeout, stdin=stdin)
    assert proc.returncode == 0, f"{command}: exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc.stdout


def runs(name: str = "db1", directory: str = BACKUP_DIR) -> list[str]:
    return ok(name, f"ls -1 {directory} | grep -E '^[0-9]{{8}}T[0-9]{{6}}Z$' || true").split()


def metrics(kind: str) -> dict[str, str]:
    """The samples of groundwork_backup_KIND.prom (node exporter's textfile directory), label left out."""
    text = ok("db1", f"cat /var/lib/prometheus/node-exporter/groundwork_backup_{kind}.prom")
    assert "# TYPE groundwork_backup_last_run_success gauge" in text
    return {line.split("{")[0]: line.split()[-1] for line in text.splitlines()
            if line.startswith("groundwork_backup_") and f'{{kind="{kind}"}} ' in line}


def start(unit: str) -> subprocess.CompletedProcess:
    """Start a oneshot unit and wait for it to end; its exit status is the job's."""
    run_on("db1", f"systemctl reset-failed {unit} 2>/dev/null || true")
    return run_on("db1", f"systemctl start {unit}", timeout=600)


def hook_calls() -> list[dict]:
    lines = ok("db1", f"cat {HOOK_LOG} 2>/dev/null || true").splitlines()
    return [json.loads(json.loads(line)["body"]) | {"path": json.loads(line)["path"]} for line in lines]


def converge_backups(recipient: str):
    data = {"backups_age_recipients": [recipient], "backups_keep_daily": KEEP, "backups_webhook_url": HOOK_URL}
    return converge(LAB_INVENTORY, "deploys/backups.py", data=data, timeout=900)


@pytest.fixture(scope="module")
def backup_lab(lab_hosts):
    state = lab.up(["db1:db,cache", "bk1:backup"])
    yield state


@pytest.fixture(scope="module")
def keypair(backup_lab):
    """(public, private) age keys made on bk1; nothing of them is written there."""
    out = ok("bk1", "DEBIAN_FRONTEND=noninteractive apt-get install -y -q age >/dev/null 2>&1 || "
                    "{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q age >/dev/null; }; "
                    "age-keygen 2>/dev/null", timeout=600)
    private = next(line for line in out.splitlines() if line.startswith("AGE-SECRET-KEY-"))
    public = next(line.split()[-1] for line in out.splitlines() if line.startswith("# public key:"))
    return public, private + "\n"


@pytest.fixture(scope="module")
def converged(backup_lab, keypair):
    for deploy in ("deploys/base.py", "deploys/postgres.py", "deploys/redis.py"):
        result = converge(LAB_INVENTORY, deploy, timeout=900)
        assert result.ok, result.describe()
    ok("db1", f"rm -f {HOOK_LOG}; systemd-run --unit gw-e2e-hook --quiet python3 -c {_sh(HOOK_SERVER)}")
    ok("db1", f"for i in $(seq 50); do python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {HOOK_PORT}), 1)' "
              "2>/dev/null && exit 0; sleep 0.2; done; exit 1")
    result = converge_backups(keypair[0])
    assert result.ok, result.describe()
    return result


def _sh(text: str) -> str:
    import shlex

    return shlex.quote(text)


def test_first_converge_sets_up_both_hosts(converged):
    assert "Backups | Upload groundwork-backup" in converged.changed["db1"]
    assert "Backups | Upload the off-host copy's SSH key" in converged.changed["db1"]
    assert "Backup host | Authorize the database hosts' backup keys" in converged.changed["bk1"]
    assert ok("db1", "systemctl is-enabled groundwork-backup.timer groundwork-backup-drill.timer").split() == ["enabled"] * 2


def test_converge_output_holds_no_secret(converged):
    output = json.dumps(converged.results) + converged.stderr
    assert HOOK_TOKEN not in output
    assert "OPENSSH PRIVATE KEY" not in output


def test_second_converge_changes_nothing(converged, keypair):
    again = converge_backups(keypair[0])
    assert again.ok, again.describe()
    assert again.changed == {}, again.describe()


def test_rows_with_embeddings_survive_backup_drop_and_restore(converged, keypair):
    # As the app role, the way an app's migrations create its tables.
    ok("db1", f"{PSQL} -d app -c 'SET ROLE app' -c 'CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY, note text, embedding vector(3))' "
              f"-c \"INSERT INTO items SELECT i, 'note ' || i, ARRAY[i, i * 2, i * 3]::vector FROM generate_series(1, 500) i "
              "ON CONFLICT DO NOTHING\"")
    assert start("groundwork-backup.service").returncode == 0
    ok("db1", f"{PSQL} -d postgres -c 'DROP DATABASE app WITH (FORCE)'")
    ok("db1", "groundwork-restore app", stdin=keypair[1], timeout=300)
    got = ok("db1", f"{PSQL} -d app -c \"SELECT count(*), (SELECT embedding::text FROM items WHERE id = 7), "
                    "(SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'items'::regclass "
                    "AND attname = 'embedding') FROM items\"").strip()
    assert got == "500|[7,14,21]|vector(3)"
    assert ok("db1", f"{PSQL} -d app -c \"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app'\"").strip() == "app"
    assert hook_calls()[-1]["status"] == "success"
    assert hook_calls()[-1]["path"] == f"/ping/{HOOK_TOKEN}"


def test_restore_without_the_key_fails(converged):
    proc = run_on("db1", "groundwork-restore app app_nokey", stdin="not a key\n")
    assert proc.returncode != 0
    assert "standard input holds no age identity" in proc.stderr


def test_dumps_are_encrypted_on_both_hosts(converged):
    for name, directory in (("db1", BACKUP_DIR), ("bk1", REMOTE_DIR)):
        newest = runs(name, directory)[-1]
        files = ok(name, f"cd {directory}/{newest} && ls").split()
        assert {"app.dump.age", "app.dump.age.sha256", "globals.sql.age", "globals.sql.age.sha256",
                "redis.tar.age", "redis.tar.age.sha256"} <= set(files), files
        for f in (f for f in files if f.endswith(".age")):
            assert ok(name, f"head -c {len(MAGIC)} {directory}/{newest}/{f}") == MAGIC
        # No plaintext anywhere: no custom-format dump header, SQL or RDB magic.
        assert ok(name, f"grep -rlE 'PGDMP|CREATE TABLE|CREATE ROLE|REDIS00' {directory} || true").strip() == ""
        ok(name, f"cd {directory}/{newest} && sha256sum --strict -c app.dump.age.sha256")


def test_offsite_copy_restores(converged, keypair):
    newest = runs("bk1", REMOTE_DIR)[-1]
    payload = ok("bk1", f"tar -C {REMOTE_DIR} -cf - {newest} | base64 -w0")
    ok("db1", "rm -rf /root/offsite && mkdir /root/offsite && base64 -d | tar -C /root/offsite -xf -", stdin=payload)
    ok("db1", f"{PSQL} -d postgres -c 'DROP DATABASE IF EXISTS app_offsite WITH (FORCE)'")
    ok("db1", "groundwork-restore --dir /root/offsite app app_offsite", stdin=keypair[1], timeout=300)
    assert ok("db1", f"{PSQL} -d app_offsite -c 'SELECT count(*) FROM items'").strip() == "500"
    ok("db1", f"{PSQL} -d postgres -c 'DROP DATABASE app_offsite WITH (FORCE)'")


def test_db_host_key_may_only_write_its_own_area(converged):
    ssh = ("ssh -i /etc/groundwork/backup/id_ed25519 -o IdentitiesOnly=yes -o BatchMode=yes "
           "-o UserKnownHostsFile=/etc/groundwork/backup/known_hosts -o ConnectTimeout=10")
    target = ok("db1", "bash -c 'source /etc/groundwork/backup/backup.conf; echo ${REMOTE_TARGETS[0]}'").strip()
    assert target.startswith("groundwork-backup@")
    shell = run_on("db1", f"{ssh} {target} cat /etc/passwd")
    assert shell.returncode != 0 and "root:x:0" not in shell.stdout
    read = run_on("db1", f"rsync -e '{ssh}' {target}:. /tmp/should-not-exist/")
    assert read.returncode != 0
    outside = run_on("db1", f"rsync -e '{ssh}' /etc/hostname {target}:/srv/backups/")
    assert outside.returncode != 0
    assert ok("bk1", "ls /srv/backups").split() == ["db1"]


def test_retention_keeps_the_newest_runs_and_a_failed_run_deletes_nothing(converged):
    for _ in range(KEEP + 2):
        assert start("groundwork-backup.service").returncode == 0
        newest = runs()[-1]
    kept = runs()
    assert len(kept) == KEEP and kept[-1] == newest
    assert runs("bk1", REMOTE_DIR) == kept
    succeeded = metrics("backup")
    assert succeeded["groundwork_backup_last_run_success"] == "1"

    ok("db1", "systemctl stop postgresql")
    try:
        failed = start("groundwork-backup.service")
        assert failed.returncode != 0
        assert "groundwork-backup.service" in ok("db1", "systemctl --failed --no-legend")
        journal = ok("db1", "journalctl -u groundwork-backup -n 30 --no-pager -o cat")
        assert "FAILED during listing databases" in journal
    finally:
        ok("db1", "systemctl start postgresql")
    assert runs() == kept
    assert runs("bk1", REMOTE_DIR) == kept
    assert ok("db1", f"ls {BACKUP_DIR} | grep -c partial || true").strip() == "0"
    assert hook_calls()[-1]["status"] == "failure"
    after = metrics("backup")
    assert after["groundwork_backup_last_run_success"] == "0"
    assert after["groundwork_backup_last_success_timestamp_seconds"] == succeeded["groundwork_backup_last_success_timestamp_seconds"]


def test_drill_restores_and_checks(converged):
    assert start("groundwork-backup-drill.service").returncode == 0
    journal = ok("db1", "journalctl -u groundwork-backup-drill -n 30 --no-pager -o cat")
    assert "app: restored 1 tables, vector ok; rows: public.items=500" in journal
    assert ok("db1", f"{PSQL} -d postgres -c \"SELECT count(*) FROM pg_database WHERE datname LIKE 'groundwork_drill%'\"").strip() == "0"
    assert hook_calls()[-1] == hook_calls()[-1] | {"status": "success", "job": "drill"}
    assert metrics("drill")["groundwork_backup_last_run_success"] == "1"


def test_truncated_dump_fails_the_drill_loudly(converged, keypair):
    newest = runs()[-1]
    dump = f"{BACKUP_DIR}/{newest}/app.dump.age"
    ok("db1", f"truncate -s $(( $(stat -c %s {dump}) / 2 )) {dump}")
    try:
        drill = start("groundwork-backup-drill.service")
        assert drill.returncode != 0
        assert "groundwork-backup-drill.service" in ok("db1", "systemctl --failed --no-legend")
        journal = ok("db1", "journalctl -u groundwork-backup-drill -n 30 --no-pager -o cat")
        assert f"checksum mismatch in {BACKUP_DIR}/{newest}" in journal
        assert "FAILED during drill: verifying checksums" in journal
        assert hook_calls()[-1] == hook_calls()[-1] | {"status": "failure", "job": "drill"}
        assert metrics("drill")["groundwork_backup_last_run_success"] == "0"
        refused = run_on("db1", f"groundwork-restore --run {newest} app app_truncated", stdin=keypair[1])
        assert refused.returncode != 0 and "does not match its checksum" in refused.stderr
    finally:
        ok("db1", f"rm -rf {BACKUP_DIR}/{newest}; systemctl reset-failed groundwork-backup-drill.service")


def test_verify_suite_passes_against_the_lab(converged):
    assert start("groundwork-backup.service").returncode == 0
    summary = run_verify("tests/verify/test_backups.py", inventory=LAB_INVENTORY)
    tests = count_tests("tests/verify/test_backups.py")
    assert summary.startswith(f"{tests} passed"), summary


def test_reconverge_after_the_runs_changes_nothing(converged, keypair):
    again = converge_backups(keypair[0])
    assert again.ok and again.changed == {}, again.describe()
    ok("db1", "systemctl stop gw-e2e-hook.service || true")
