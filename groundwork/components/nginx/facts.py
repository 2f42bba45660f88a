"""nginx and certbot state."""

from __future__ import annotations

import re

from pyinfra.api import FactBase


class NginxVersion(FactBase):
    """(major, minor, patch) of the installed nginx, or None."""

    requires_command = "nginx"

    def command(self) -> str:
        return "nginx -v 2>&1"

    def process(self, output):
        match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", " ".join(output))
        return tuple(int(g) for g in match.groups()) if match else None


class Certificate(FactBase):
    """{'names': sorted DNS names, 'server': ACME directory} of a certbot
    lineage, or None when there is none."""

    def command(self, cert_name: str) -> str:
        live, renewal = f"/etc/letsencrypt/live/{cert_name}/cert.pem", f"/etc/letsencrypt/renewal/{cert_name}.conf"
        return (
            f"if [ -f {live} ] && [ -f {renewal} ]; then "
            f"openssl x509 -in {live} -noout -ext subjectAltName | tail -n +2; "
            f"grep -E '^server *=' {renewal}; fi"
        )

    def process(self, output):
        lines = [line.strip() for line in output if line.strip()]
        if not lines:
            return None
        names, server = [], None
        for line in lines:
            if line.startswith("server"):
                server = line.split("=", 1)[1].strip()
            else:
                names += [n.strip()[4:] for n in line.split(",") if n.strip().startswith("DNS:")]
        return {"names": sorted(names), "server": server}
