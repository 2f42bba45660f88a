"""Connections reset while Gunicorn reloads its Uvicorn workers, with and without our hook.

    .venv/bin/python bench/reload_resets.py [--rounds 3] [--reloads 36] [--threads 8]

Run from the repository root; no lab and no root needed. It renders
templates/etc/NAME/gunicorn.conf.py.j2 as deploys/app.py does for an ASGI
app, bound to a unix socket in a temporary directory, and runs Gunicorn with
it twice per round: once as rendered ("hook") and once with its
post_worker_init removed ("no hook"). Each run puts tests/e2e/load_unix_socket.py
(one connection per request) on the socket and sends the master a HUP every
0.5 s, which retires every worker. It prints the requests served and the
failed ones per variant, summed over the rounds.

Gunicorn, Uvicorn and uvicorn-worker come from a virtualenv it makes once
under /var/cache/groundwork (or $GROUNDWORK_BENCH_VENV), with pip's defaults.
Traffic: a unix socket on this machine only.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pyinfra.api.util import get_template  # noqa: E402

from groundwork.components.app.deploy import gunicorn_vars  # noqa: E402
from groundwork.paths import template  # noqa: E402
from groundwork.components.app.settings import AppSettings  # noqa: E402

VENV = Path(os.environ.get("GROUNDWORK_BENCH_VENV", "/var/cache/groundwork/bench-gunicorn-venv"))
PACKAGES = ["gunicorn", "uvicorn", "uvicorn-worker"]

APP = '''\
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"version": "bench"}'})
'''


def venv() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PACKAGES], check=True)
    return VENV


def render_config(sock: Path, hook: bool) -> str:
    values = gunicorn_vars(AppSettings(), cpus=1)
    values.update(bind=f"unix:{sock}", workers=2)
    rendered = get_template(template("etc/NAME/gunicorn.conf.py")).render(app_name="bench", **values)
    assert "def post_worker_init" in rendered, "the template no longer has the hook this measures"
    if not hook:
        rendered += "\ndel post_worker_init\n"
    return rendered


def run_once(work: Path, hook: bool, reloads: int, threads: int) -> dict:
    sock, pidfile, stop = work / "app.sock", work / "gunicorn.pid", work / "stop"
    for path in (sock, pidfile, stop):
        path.unlink(missing_ok=True)
    (work / "gunicorn.conf.py").write_text(render_config(sock, hook))
    gunicorn = subprocess.Popen(
        [str(VENV / "bin" / "gunicorn"), "-c", str(work / "gunicorn.conf.py"), "--chdir", str(work),
         "--pid", str(pidfile), "--log-level", "warning", "app:app"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)
        load_script = (ROOT / "tests/e2e/load_unix_socket.py").read_text()
        load_script = load_script.replace("range(4)", f"range({threads})")
        (work / "load.py").write_text(load_script)
        seconds = reloads * 0.5 + 2
        load = subprocess.Popen(
            [sys.executable, str(work / "load.py"), str(sock), "/", str(seconds), str(stop)],
            stdout=subprocess.PIPE, text=True,
        )
        time.sleep(1)
        for _ in range(reloads):
            gunicorn.send_signal(signal.SIGHUP)
            time.sleep(0.5)
        stop.touch()
        out, _ = load.communicate(timeout=60)
        return json.loads(out)
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reloads", type=int, default=36)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    venv()
    versions = subprocess.run(
        [str(VENV / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    print("with", ", ".join(v for v in versions if v.split("==")[0] in PACKAGES))
    totals = {True: [0, 0], False: [0, 0]}
    with tempfile.TemporaryDirectory(prefix="gw-reload-") as tmp:
        work = Path(tmp)
        (work / "app.py").write_text(APP)
        for n in range(args.rounds):
            for hook in (False, True):  # side by side in every round
                result = run_once(work, hook, args.reloads, args.threads)
                ok = result["statuses"].get("200", 0)
                failed = sum(c for k, c in result["statuses"].items() if k != "200")
                totals[hook][0] += ok
                totals[hook][1] += failed
                print(f"round {n + 1}, {'hook' if hook else 'no hook'}: {ok} served, {failed} failed "
                      f"{sorted(k for k in result['statuses'] if k != '200')}", flush=True)
    reloads = args.rounds * args.reloads
    for hook in (False, True):
        ok, failed = totals[hook]
        print(f"{'hook' if hook else 'no hook'}: {failed} failed of {ok + failed} requests in {reloads} reloads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
