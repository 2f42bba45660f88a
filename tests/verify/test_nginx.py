"""nginx and its certificate, verified on the `web` hosts of any inventory."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.group("web")


def _site(settings):
    if not settings.nginx.server_names:
        pytest.skip("no nginx_server_names for this host")
    return settings.nginx.server_names[0]


def https(host, name: str, path: str, *flags: str) -> str:
    # Connect to this host itself, whatever DNS says; verify against the system CA store
    # unless told otherwise (a private ACME CA is verified by the e2e tests).
    return host.check_output(
        f"curl -sS -k --max-time 10 --resolve {name}:443:127.0.0.1 {' '.join(flags)} https://{name}{path}"
    )


def test_nginx_is_enabled_and_its_config_is_valid(host):
    assert host.service("nginx").is_enabled and host.service("nginx").is_running
    assert host.run("nginx -t").rc == 0


def test_http_redirects_to_https_with_308(host, settings):
    name = _site(settings)
    out = host.check_output(f"curl -s -o /dev/null -w '%{{http_code}} %{{redirect_url}}' --resolve {name}:80:127.0.0.1 http://{name}/x?y=1")
    assert out == f"308 https://{name}/x?y=1"


def test_https_proxies_to_the_app_with_security_headers(host, settings):
    name = _site(settings)
    headers = https(host, name, settings.app.health_path, "-D -", "-o /dev/null").lower()
    assert headers.startswith("http/2 200")
    if settings.nginx.hsts_max_age:
        assert f"strict-transport-security: max-age={settings.nginx.hsts_max_age}" in headers
    for header in ("x-content-type-options: nosniff", "x-frame-options: deny", "referrer-policy: strict-origin-when-cross-origin"):
        assert header in headers


def test_only_tls_1_2_and_1_3_are_offered(host, settings):
    name = _site(settings)
    for version, expected in (("1.1", False), ("1.2", True), ("1.3", True)):
        result = host.run(f"echo | openssl s_client -connect 127.0.0.1:443 -servername {name} -tls{version.replace('.', '_')}")
        assert (result.rc == 0) is expected, version


def test_certificate_covers_every_server_name(host, settings):
    if not settings.certbot.enabled:
        pytest.skip("certbot_enabled is false")
    name = _site(settings)
    sans = host.check_output(
        f"echo | openssl s_client -connect 127.0.0.1:443 -servername {name} 2>/dev/null | openssl x509 -noout -ext subjectAltName"
    )
    for server_name in settings.nginx.server_names:
        assert f"DNS:{server_name}" in sans


def test_renewal_is_scheduled_and_reloads_nginx(host, settings):
    if not settings.certbot.enabled:
        pytest.skip("certbot_enabled is false")
    assert host.service("certbot.timer").is_enabled
    hook = host.file("/etc/letsencrypt/renewal-hooks/deploy/groundwork-reload-nginx")
    assert hook.mode == 0o755 and "systemctl reload nginx" in hook.content_string


def test_default_site_is_gone(host):
    assert not host.file("/etc/nginx/sites-enabled/default").exists
