"""nginx in front of the app, and its certificate from an ACME CA.

nginx → site (checked with `nginx -t` before it goes live) → certificate link
(self-signed placeholder until certbot has one) → certbot (webroot, no
downtime) → renewal wiring (deploy hook reloads nginx; CA bundle for private
ACME servers).
"""

from __future__ import annotations

import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.server import LinuxDistribution

from ...changes import ServiceChanges, watched_upload
from ...facts.once import fact_at_start
from ...operations import files, server, systemd
from ...operations.files import checked_template
from ...packages import ensure_packages
from ...paths import template
from .facts import Certificate, NginxVersion
from .settings import CertbotSettings, NginxSettings
from .upstream import Upstream

SNAKEOIL = ("/etc/ssl/certs/ssl-cert-snakeoil.pem", "/etc/ssl/private/ssl-cert-snakeoil.key")
WEBROOT = "/var/www/acme"
CA_BUNDLE = "/etc/letsencrypt/groundwork-ca.pem"
# nginx of each distribution, for the first converge (before nginx is installed).
DISTRIBUTION_NGINX = {("debian", 13): (1, 26, 0), ("debian", 12): (1, 22, 1),
                      ("ubuntu", 24): (1, 24, 0), ("ubuntu", 22): (1, 18, 0)}


def nginx_features(version: tuple[int, int, int]) -> dict:
    return {
        "http2_directive": version >= (1, 25, 1),  # `listen ... http2` is deprecated from 1.25.1
        "session_tickets_off": version < (1, 23, 2),  # ticket keys rotate by themselves from 1.23.2
    }


def rate_zones(nginx: NginxSettings) -> list[dict]:
    return [
        {"name": f"groundwork_{i}", "location": r.location, "rate": r.rate, "burst": r.burst}
        for i, r in enumerate(nginx.rate_limits)
    ]


NGINX_PACKAGES = ["nginx", "certbot", "ssl-cert"]


@deploy("Nginx")
def deploy_nginx(nginx: NginxSettings, certbot: CertbotSettings, upstream: Upstream) -> None:
    ensure_packages(NGINX_PACKAGES, name="Install nginx and certbot")
    reload = ServiceChanges("nginx", action="reload", check="nginx -t")
    name = upstream.app_name
    cert = host.get_fact(Certificate, cert_name=name)
    has_cert = cert is not None

    if any(s.startswith("unix:") for s in upstream.servers):
        # The app's socket is 0770 in /run/NAME (0750): nginx reaches it as a group member.
        reload.watch(lambda: server.user(name=f"Let nginx reach the {name} socket", user="www-data",
                                         groups=[name], append=True))
    files.link(name="Remove the default site", path="/etc/nginx/sites-enabled/default", present=False)
    files.directory(name="Create the ACME webroot", path=WEBROOT, user="root", group="root", mode="0755")
    files.directory(name="Create the certificate links' directory", path=f"/etc/nginx/groundwork/{name}",
                    user="root", group="root", mode="0755")
    live = (f"/etc/letsencrypt/live/{name}/fullchain.pem", f"/etc/letsencrypt/live/{name}/privkey.pem")
    # Until certbot has a certificate, nginx serves a self-signed one: it can
    # start and answer the ACME challenge on the first converge.
    for link, target in zip(("fullchain.pem", "privkey.pem"), live if has_cert else SNAKEOIL):
        reload.watch(lambda link=link, target=target: files.link(
            name=f"Point {link} at the {'certbot' if has_cert else 'placeholder'} certificate",
            path=f"/etc/nginx/groundwork/{name}/{link}", target=target))
    configure_nginx(nginx, upstream, reload)
    systemd.service(name="Run nginx", service="nginx", running=True, enabled=True)
    reload.apply()

    if certbot.enabled:
        obtain_certificate(nginx, certbot, name, cert)


def configure_nginx(nginx: NginxSettings, upstream: Upstream, reload: ServiceChanges) -> None:
    installed = host.get_fact(NginxVersion)
    if installed is None:
        distro = fact_at_start(LinuxDistribution)
        installed = DISTRIBUTION_NGINX.get(((distro["name"] or "").lower(), distro["major"] or 0), (1, 26, 0))
    features = nginx_features(installed)
    zones = rate_zones(nginx)
    watched_upload(reload, checked_template,
        name="Upload nginx's groundwork settings", src=template("etc/nginx/conf.d/groundwork.conf"),
        dest="/etc/nginx/conf.d/groundwork.conf", check="nginx -t", zones=zones, **features,
    )
    name = upstream.app_name
    watched_upload(reload, checked_template,
        name=f"Upload the {name} site", src=template("etc/nginx/sites-available/NAME.conf"),
        dest=f"/etc/nginx/sites-available/{name}.conf", check="nginx -t",
        app_name=name, upstream_servers=list(upstream.servers), static_root=upstream.static_root,
        server_names=list(nginx.server_names), hsts_max_age=nginx.hsts_max_age,
        client_max_body_size=nginx.client_max_body_size, proxy_connect_timeout=nginx.proxy_connect_timeout,
        proxy_read_timeout=nginx.proxy_read_timeout, proxy_send_timeout=nginx.proxy_send_timeout,
        static_max_age=nginx.static_max_age, zones=zones, **features,
    )
    reload.watch(lambda: files.link(name=f"Enable the {name} site", path=f"/etc/nginx/sites-enabled/{name}.conf",
                                    target=f"/etc/nginx/sites-available/{name}.conf"))


def obtain_certificate(nginx: NginxSettings, certbot: CertbotSettings, name: str, cert: dict | None) -> None:
    renewal = ServiceChanges("nginx", action="reload", check="nginx -t")
    env = ""
    if certbot.ca_bundle:
        files.put(name="Upload the ACME server's CA", src=certbot.ca_bundle, dest=CA_BUNDLE, mode="0644")
        files.put(name="Trust it in certbot, renewals too", src=StringIO(f"REQUESTS_CA_BUNDLE={CA_BUNDLE}\n"),
                  dest="/etc/letsencrypt/groundwork.env", mode="0644")
        env = f"REQUESTS_CA_BUNDLE={CA_BUNDLE} "
    dropin = files.template(
        name="Give certbot's renewal service that environment",
        src=template("etc/systemd/system/certbot.service.d/groundwork.conf"),
        dest="/etc/systemd/system/certbot.service.d/groundwork.conf", mode="0644",
    )
    systemd.daemon_reload(name="Reload systemd units", _if=dropin.did_change)
    files.template(
        name="Reload nginx after each renewal",
        src=template("etc/letsencrypt/renewal-hooks/deploy/groundwork-reload-nginx"),
        dest="/etc/letsencrypt/renewal-hooks/deploy/groundwork-reload-nginx", mode="0755",
    )
    systemd.service(name="Renew certificates on certbot's timer", service="certbot.timer", running=True, enabled=True)

    wanted = sorted(nginx.server_names)
    if cert is None or cert["names"] != wanted or cert["server"] != certbot.server:
        domains = " ".join(f"-d {shlex.quote(n)}" for n in wanted)
        account = f"--email {shlex.quote(certbot.email)}" if certbot.email else "--register-unsafely-without-email"
        issued = server.shell(
            name=f"Get a certificate for {', '.join(wanted)}",
            commands=[
                f"{env}certbot certonly --non-interactive --agree-tos --webroot --webroot-path {WEBROOT} "
                f"--cert-name {name} {domains} --server {shlex.quote(certbot.server)} {account} "
                "--expand --keep-until-expiring"
            ],
        )
        live = f"/etc/letsencrypt/live/{name}"
        for link in ("fullchain.pem", "privkey.pem"):
            renewal.watch(lambda link=link: server.shell(
                name=f"Point {link} at the certbot certificate",
                commands=[f"ln -sfn {live}/{link} /etc/nginx/groundwork/{name}/{link}"],
                _if=issued.did_change,
            ))
        renewal.apply()

