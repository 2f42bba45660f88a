"""Base: identity, packages, clock, locale and journald on every host."""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import Link
from pyinfra.operations import files, server

from ..changes import ServiceChanges
from ..packages import ensure_packages
from ..paths import HOST_STATE_DIR, template
from ..settings.base import BaseSettings


@deploy("Base")
def deploy_base(settings: BaseSettings) -> None:
    files.directory(
        name="Create groundwork's state directory",
        path=HOST_STATE_DIR, user="root", group="root", mode="0755",
    )
    if settings.hostname:
        set_hostname(settings.hostname)
    ensure_packages([*settings.packages, *settings.extra_packages], name="Install base packages")
    set_timezone(settings.timezone)
    set_locale(settings.locale)
    configure_journald(settings.journald_max_use)


def set_hostname(hostname: str) -> None:
    server.hostname(name="Set the hostname", hostname=hostname)
    short = hostname.split(".")[0]
    names = hostname if short == hostname else f"{hostname} {short}"
    files.line(
        name="Map the hostname to 127.0.1.1 in /etc/hosts",
        path="/etc/hosts",
        line=r"^127\.0\.1\.1\s.*$",
        replace=f"127.0.1.1\t{names}",
    )


def set_timezone(timezone: str) -> None:
    files.link(
        name=f"Set the time zone to {timezone}",
        path="/etc/localtime",
        target=f"/usr/share/zoneinfo/{timezone}",
    )
    files.put(
        name="Write /etc/timezone",
        src=StringIO(f"{timezone}\n"),
        dest="/etc/timezone",
        mode="0644",
    )


def set_locale(locale: str) -> None:
    if locale != "C.UTF-8":
        gen = files.line(
            name=f"Enable the {locale} locale",
            path="/etc/locale.gen",
            line=rf"^#?\s*{locale.replace('.', '[.]')}\s+UTF-8$",
            replace=f"{locale} UTF-8",
        )
        server.shell(name="Generate locales", commands=["locale-gen"], _if=gen.did_change)
    # Debian 13 makes /etc/default/locale a link to systemd's /etc/locale.conf;
    # writing through the link would replace it with a file on every run.
    link = host.get_fact(Link, path="/etc/default/locale")
    dest = "/etc/locale.conf" if link and link.get("link_target") == "../locale.conf" else "/etc/default/locale"
    files.template(
        name=f"Set the default locale to {locale}",
        src=template("etc/default/locale"),
        dest=dest,
        mode="0644",
        locale=locale,
    )


def configure_journald(max_use: str) -> None:
    journald = ServiceChanges("systemd-journald", action="restart")
    journald.watch(files.template(
        name="Upload the journald size limit",
        src=template("etc/systemd/journald.conf.d/groundwork.conf"),
        dest="/etc/systemd/journald.conf.d/groundwork.conf",
        mode="0644",
        max_use=max_use,
    ))
    journald.apply()

