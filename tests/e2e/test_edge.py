"""nginx and certbot on a lab host, against the lab's own ACME CA (pebble)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from groundwork.lab.acme import pebble_root
from groundwork.lab.lab import run_on
from groundwork.lab.state import LabState, lab_dir
from groundwork.lab.system import ensure_apt_packages
from groundwork.paths import ROOT
from groundwork.testing.converge import converge

LAB_INVENTORY = "inventories/lab.py"
SITE = "lab1.groundwork.test"  # inventories/lab.py names each host NAME.groundwork.test


@pytest.fixture(scope="module")
def edge(full_stack, tmp_path_factory):
    state = LabState.load()
    root = tmp_path_factory.mktemp("pebble") / "root.pem"
    root.write_text(pebble_root(state))
    return state.hosts["lab1"].address, root


def curl(address: str, root: Path, url: str, *flags: str) -> subprocess.CompletedProcess:
    """From the control machine, with the site name resolved to the lab host."""
    port = 443 if url.startswith("https") else 80
    return subprocess.run(
        ["curl", "-sS", "--max-time", "10", "--resolve", f"{SITE}:{port}:{address}", "--cacert", str(root), *flags, url],
        capture_output=True, text=True, timeout=30,
    )


def served(address: str) -> tuple[str, str]:
    """(serial, sha256 of the site file) as the lab host serves and holds them."""
    serial = run_on("lab1", f"echo | openssl s_client -connect 127.0.0.1:443 -servername {SITE} 2>/dev/null | openssl x509 -noout -serial")
    site = run_on("lab1", "sha256sum /etc/nginx/sites-available/demoapp.conf")
    return serial.stdout.strip(), site.stdout.split()[0]


def test_https_answers_health_with_a_certificate_from_the_acme_ca(edge):
    address, root = edge
    result = curl(address, root, f"https://{SITE}/health", "-D", "-")
    assert result.returncode == 0, result.stderr  # verified against pebble's root
    head, _, body = result.stdout.partition("\n\n")  # text mode turned CRLF into LF
    assert head.startswith("HTTP/2 200") and json.loads(body)["status"] == "ok"
    lowered = head.lower()
    assert "strict-transport-security: max-age=63072000" in lowered
    for header in ("x-content-type-options: nosniff", "x-frame-options: deny", "referrer-policy: strict-origin-when-cross-origin"):
        assert header in lowered
    issuer = run_on("lab1", "openssl x509 -in /etc/letsencrypt/live/demoapp/cert.pem -noout -issuer -enddate")
    assert "Pebble Intermediate CA" in issuer.stdout


def test_http_redirects_to_https_with_308(edge):
    address, root = edge
    result = curl(address, root, f"http://{SITE}/items/nearest?embedding=1,0,0", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}")
    assert result.stdout == f"308 https://{SITE}/items/nearest?embedding=1,0,0"


def test_forced_renewal_changes_the_serial_and_reloads_without_restart(edge):
    address, _ = edge
    serial, _ = served(address)
    pid = run_on("lab1", "systemctl show -p MainPID --value nginx").stdout.strip()
    renew = run_on("lab1", "set -a; . /etc/letsencrypt/groundwork.env; certbot renew --force-renewal --no-random-sleep-on-renew --cert-name demoapp -q", timeout=120)
    assert renew.returncode == 0, renew.stderr
    assert served(address)[0] != serial
    assert run_on("lab1", "systemctl show -p MainPID --value nginx").stdout.strip() == pid


def tree_with_a_broken_site_template(where: Path) -> Path:
    """groundwork as run from `where`, its site template ending in a directive nginx does not know
    (no setting can write one: they are all checked against a grammar)."""
    for entry in ROOT.iterdir():
        if entry.name in ("groundwork", "templates"):
            shutil.copytree(entry, where / entry.name, ignore=shutil.ignore_patterns("__pycache__"))
        elif entry.name not in (".git", ".venv", ".lab"):
            (where / entry.name).symlink_to(entry)
    site = where / "templates/etc/nginx/sites-available/NAME.conf.j2"
    site.write_text(site.read_text() + "groundwork_not_a_directive on;\n")
    return where


def test_a_broken_site_template_fails_the_run_and_the_old_config_keeps_serving(edge, tmp_path):
    address, root = edge
    _, site_before = served(address)
    tree = tree_with_a_broken_site_template(tmp_path)
    broken = converge(LAB_INVENTORY, "deploys/nginx.py", json_output=False, cwd=tree,
                      env={"PYTHONPATH": str(tree), "GROUNDWORK_LAB_DIR": str(lab_dir())})
    assert broken.returncode != 0
    assert 'unknown directive "groundwork_not_a_directive"' in broken.stderr
    assert "nginx: configuration file /etc/nginx/nginx.conf test failed" in broken.stderr
    assert served(address)[1] == site_before  # the old file is back on disk
    assert run_on("lab1", "nginx -t").returncode == 0
    assert curl(address, root, f"https://{SITE}/health", "-o", "/dev/null", "-w", "%{http_code}").stdout == "200"
    assert converge(LAB_INVENTORY, "deploys/full.py").ok
    settled = converge(LAB_INVENTORY, "deploys/full.py")
    assert settled.ok and settled.changed == {}, settled.describe()


def test_testssl_finds_nothing_high_or_critical(edge):
    address, root = edge
    ensure_apt_packages({"testssl": "testssl.sh"})
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "tls.json"
        proc = subprocess.run(
            ["testssl", "--quiet", "--color", "0", "--warnings", "off", "--nodns", "none", "--ip", address,
             "--add-ca", str(root), "--jsonfile", str(report), f"https://{SITE}"],
            capture_output=True, text=True, timeout=600, cwd=tmp,
        )
        findings = json.loads(report.read_text())
    assert findings, proc.stdout[-2000:]
    severe = [(f["id"], f["finding"]) for f in findings if f["severity"] in ("HIGH", "CRITICAL")]
    assert severe == []
    offered = {f["id"]: f["finding"] for f in findings}
    assert offered["TLS1"] == "not offered" and offered["TLS1_1"] == "not offered"
    assert offered["TLS1_2"].startswith("offered") and offered["TLS1_3"].startswith("offered")


def test_adding_a_name_expands_the_certificate_on_the_next_converge(edge):
    names = [SITE, f"www.{SITE}"]
    sans = "openssl x509 -in /etc/letsencrypt/live/demoapp/cert.pem -noout -ext subjectAltName"
    try:
        expanded = converge(LAB_INVENTORY, "deploys/nginx.py", data={"nginx_server_names": names})
        assert expanded.ok, expanded.describe()
        assert f"Nginx | Get a certificate for {', '.join(sorted(names))}" in expanded.changed["lab1"]
        assert all(f"DNS:{n}" in run_on("lab1", sans).stdout for n in names)
        again = converge(LAB_INVENTORY, "deploys/nginx.py", data={"nginx_server_names": names})
        assert again.ok and again.changed == {}, again.describe()  # no ACME request for an unchanged site
    finally:
        back = converge(LAB_INVENTORY, "deploys/nginx.py")
    assert back.ok, back.describe()
    assert f"DNS:www.{SITE}" not in run_on("lab1", sans).stdout
