"""A private ACME CA on the lab gateway: Debian's pebble and pebble-challtestsrv.

Pebble validates HTTP-01 challenges on port 80 of the name it is asked for;
challtestsrv is its DNS: each lab host's name (NAME.groundwork.test) resolves
to that host, any other name to the first lab host. Pebble's own listener gets a certificate from a CA made here, which
lab hosts trust through certbot's REQUESTS_CA_BUNDLE.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from .services import wait_for_port
from .state import LabState
from .system import LabError, is_our_process, run

ACME_PORT = 14000
MANAGEMENT_PORT = 15000
DNS_PORT = 8053
CHALLTESTSRV_MANAGEMENT_PORT = 8055
VALIDITY_SECONDS = 90 * 24 * 3600


def acme_dir(state: LabState) -> Path:
    return state.dir / "acme"


def directory_url(state: LabState) -> str:
    return f"https://{state.gateway}:{ACME_PORT}/dir"


def ca_bundle(state: LabState) -> Path:
    """The CA of pebble's listener: what a client must trust to talk ACME to it."""
    return acme_dir(state) / "listener-ca.pem"


def make_listener_certificate(state: LabState) -> None:
    d = acme_dir(state)
    d.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = d / "listener-ca.key", ca_bundle(state)
    key, csr, cert = d / "listener.key", d / "listener.csr", d / "listener.pem"
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-days", "30", "-subj", "/CN=groundwork lab ACME listener CA", "-keyout", ca_key, "-out", ca_cert)
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-subj", f"/CN={state.gateway}", "-keyout", key, "-out", csr)
    ext = d / "listener.ext"
    ext.write_text(f"subjectAltName=IP:{state.gateway}\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
        "-days", "30", "-extfile", ext, "-out", cert)


def start_acme(state: LabState) -> None:
    first = next(iter(state.hosts.values()))
    d = acme_dir(state)
    make_listener_certificate(state)
    config = d / "pebble.json"
    config.write_text(json.dumps({"pebble": {
        "listenAddress": f"{state.gateway}:{ACME_PORT}",
        "managementListenAddress": f"{state.gateway}:{MANAGEMENT_PORT}",
        "certificate": str(d / "listener.pem"),
        "privateKey": str(d / "listener.key"),
        "httpPort": 80,
        "tlsPort": 443,
        # Real CAs name a revocation service in each certificate; pebble names
        # this one (nothing answers it: the lab never checks revocation).
        "ocspResponderURL": f"http://{state.gateway}:4002",
        "externalAccountBindingRequired": False,
        "certificateValidityPeriod": VALIDITY_SECONDS,
    }}, indent=2))
    logs = state.dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    _start(state, "pebble-challtestsrv", [
        "pebble-challtestsrv", "-defaultIPv4", first.address, "-defaultIPv6", "",
        "-dns01", f"{state.gateway}:{DNS_PORT}", "-http01", "", "-https01", "", "-tlsalpn01", "",
        "-management", f"{state.gateway}:{CHALLTESTSRV_MANAGEMENT_PORT}",
    ], env={})
    wait_for_port(state.gateway, CHALLTESTSRV_MANAGEMENT_PORT, 20, "pebble-challtestsrv")
    resolve_every_host(state)
    # No random sleeps before validation; never reject a nonce (clients retry
    # anyway, but a test must not depend on that).
    _start(state, "pebble", ["pebble", "-config", str(config), "-dnsserver", f"{state.gateway}:{DNS_PORT}"],
           env={"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"})
    wait_for_port(state.gateway, ACME_PORT, 20, "pebble")
    # What a browser or curl must trust to verify the lab's sites.
    root_file(state).write_text(pebble_root(state))


def resolve_every_host(state: LabState) -> None:
    """NAME.groundwork.test -> that host, so HTTP-01 for each host reaches it."""
    import urllib.request

    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the lab gateway, never a proxy
    for host in state.hosts.values():
        body = json.dumps({"host": f"{host.name}.groundwork.test.", "addresses": [host.address]}).encode()
        url = f"http://{state.gateway}:{CHALLTESTSRV_MANAGEMENT_PORT}/add-a"
        with direct.open(urllib.request.Request(url, data=body, method="POST"), timeout=10):
            pass


def root_file(state: LabState) -> Path:
    return acme_dir(state) / "pebble-root.pem"


def _start(state: LabState, name: str, argv: list[str], env: dict[str, str]) -> None:
    if is_our_process(state.services.get(name), name):
        return
    log = open(state.dir / "logs" / f"{name}.out", "ab")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True, env={**os.environ, **env}, cwd=acme_dir(state))
    state.services[name] = proc.pid
    state.save()


def pebble_root(state: LabState) -> str:
    """PEM of the root pebble signs site certificates under (new on every start)."""
    result = run("curl", "-s", "--max-time", "5", "--cacert", ca_bundle(state),
                 f"https://{state.gateway}:{MANAGEMENT_PORT}/roots/0", check=False)
    if result.returncode != 0 or "BEGIN CERTIFICATE" not in result.stdout:
        raise LabError(f"could not read pebble's root: {result.stderr.strip() or result.stdout[:200]}")
    return result.stdout
