"""The app and its Celery units, verified on the `app`/`worker` hosts of any inventory."""

from __future__ import annotations

import shlex

import pytest


def _app(settings):
    if not settings.app.source:
        pytest.skip("no app_source for this host")
    return settings.app


@pytest.mark.group("app")
def test_app_answers_its_health_check(host, settings):
    app = _app(settings)
    request = " ".join(shlex.quote(word) for word in app.health_request)  # the health gate's own request
    code = host.check_output(f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 10 {request}")
    assert code == "200"


@pytest.mark.group("app")
def test_app_service_is_enabled_and_running(host, settings):
    service = host.service(f"{_app(settings).name}.service")
    assert service.is_enabled and service.is_running


@pytest.mark.group("app")
def test_app_user_cannot_log_in(host, settings):
    user = host.user(_app(settings).name)
    assert user.exists and user.shell in ("/usr/sbin/nologin", "/bin/false")


@pytest.mark.group("app")
def test_release_files_belong_to_root_and_the_app_cannot_write_them(host, settings):
    name = _app(settings).name
    assert host.check_output(f"find /srv/{name} ! -user root -print -quit") == ""
    assert host.check_output(f"find /srv/{name} -perm /022 ! -type l -print -quit") == ""


@pytest.mark.group("app")
def test_environment_file_is_root_only(host, settings):
    env = host.file(f"/etc/{_app(settings).name}/env")
    assert (env.user, env.group, env.mode) == ("root", "root", 0o600)


@pytest.mark.group("app")
def test_current_is_a_complete_release_and_old_ones_are_pruned(host, settings):
    app = _app(settings)
    current = host.check_output(f"readlink /srv/{app.name}/current")
    assert current.startswith("releases/")
    assert host.file(f"/srv/{app.name}/{current}/.complete").exists
    releases = host.check_output(f"ls -1 /srv/{app.name}/releases").split()
    assert 1 <= len(releases) <= app.keep_releases


@pytest.mark.group("app")
def test_units_are_sandboxed(host, settings):
    name = _app(settings).name
    units = [f"{name}.service"]
    if settings.celery.app:
        units += [f"{name}-celery-worker.service", f"{name}-celery-beat.service"]
    for unit in units:
        # --threshold is exposure x 10: 20 means "2.0 or better".
        result = host.run(f"systemd-analyze security --threshold=20 {unit}")
        assert result.rc == 0, f"{unit}: {result.stdout[-300:]}"


@pytest.mark.group("worker")
def test_celery_worker_is_running(host, settings):
    if not settings.app.source or not settings.celery.app:
        pytest.skip("no Celery app for this host")
    worker = host.service(f"{settings.app.name}-celery-worker.service")
    assert worker.is_enabled and worker.is_running


@pytest.mark.group("app")
def test_app_commands_run_as_the_app_user_with_its_environment(host, settings):
    name = _app(settings).name
    out = host.check_output(
        f"{name}-run sh -c 'id -un; test -n \"$DATABASE_URL\" && echo has-env; touch /var/lib/{name}/.probe && echo data-writable'"
    )
    assert out.split() == [name, "has-env", "data-writable"]
    assert host.run(f"{name}-run sh -c 'touch /srv/{name}/current/x'").rc != 0  # releases stay read-only


@pytest.mark.group("app")
def test_config_files_from_your_templates_are_in_place(host, settings):
    app = _app(settings)
    for config in app.config_files:
        f = host.file(config.dest)
        assert f.exists and (f.user, f.group, f.mode) == ("root", app.name, int(config.mode, 8))
        assert "managed by groundwork" in f.content_string


@pytest.mark.group("app")
def test_static_files_are_collected_into_the_release(host, settings):
    app = _app(settings)
    if not app.static_command:
        pytest.skip("no app_static_command")
    static = f"/srv/{app.name}/current/static"
    assert host.file(static).is_directory and host.file(static).user == "root"
    assert host.check_output(f"find {static} -type f | head -1") != ""


@pytest.mark.group("app")
def test_app_timers_are_scheduled(host, settings):
    app = _app(settings)
    for timer in app.timers:
        unit = host.service(f"{app.name}-timer-{timer.name}.timer")
        if timer.hosts == "all" or unit.is_enabled:  # a 'one' timer runs on the first app host only
            assert unit.is_enabled and unit.is_running, timer.name


@pytest.mark.group("app")
def test_app_processes_run(host, settings):
    app = _app(settings)
    for process in app.processes:
        unit = host.service(f"{app.name}-proc-{process.name}.service")
        if process.hosts == "all" or unit.is_enabled:
            assert unit.is_enabled and unit.is_running, process.name
