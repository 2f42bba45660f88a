"""Secrets stay out of every log record: pyinfra's --debug prints group data."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from groundwork import redaction
from groundwork.paths import ROOT

LAB_SECRETS = ("lab-app-password-not-secret", "lab-redis-app-password-not-secret",
               "lab-replication-password-not-secret", "lab-redis-admin-password-not-secret")


def test_group_data_in_a_record_is_masked_by_key(caplog):
    data = {
        "redis_app_password": "s3cret-value-1",
        "postgres_roles": [{"name": "app", "password": "s3cret-value-2"}],
        "app_environment": {"DJANGO_SECRET": "s3cret-value-3", "PLAIN": "s3cret-value-4"},
        "app_database_url": "postgresql://app:s3cret-value-5@db1:5432/app",
        "backups_webhook_url": "https://hooks.example/T0/s3cret-value-6",
        "base_timezone": "Europe/Berlin",
    }
    with caplog.at_level(logging.DEBUG, logger="pyinfra"):
        logging.getLogger("pyinfra").debug("Adding data to group %s: %r", "prod", data)
    text = caplog.text
    assert "s3cret-value" not in text
    assert "Europe/Berlin" in text and "'name': 'app'" in text and "postgresql://app:********@db1" in text


def test_registered_values_are_masked_anywhere_in_a_message(caplog):
    redaction.register(["an-unusual-secret-42"])
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("paramiko.transport").debug("command output: x an-unusual-secret-42 y")
        logging.getLogger("groundwork").info("%s", ["nested", {"k": "an-unusual-secret-42"}])
    assert "an-unusual-secret-42" not in caplog.text and caplog.text.count(redaction.MASK) == 2


def test_scram_verifiers_are_masked():
    verifier = "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy"
    assert redaction.mask_text(f"rolpassword={verifier} next") == f"rolpassword={redaction.MASK} next"


def test_install_is_idempotent():
    factory = logging.getLogRecordFactory()
    redaction.install()
    assert logging.getLogRecordFactory() is factory and getattr(factory, "groundwork_redaction", False)


def test_pyinfra_debug_prints_no_lab_secret():
    # Exactly as a user types it, from the repository root: pyinfra loads every
    # file of group_data/ (lab.py holds the lab's passwords) and logs its data.
    pyinfra = Path(sys.executable).with_name("pyinfra")
    proc = subprocess.run([str(pyinfra), "@local", "--debug", "-y", "exec", "--", "true"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr
    assert "Adding data to group lab" in output, output[-2000:]  # the record that used to leak
    assert not [s for s in LAB_SECRETS if s in output]


def test_a_value_registered_after_a_record_is_masked_in_the_next():
    # the values are sorted once and again only when one is added
    assert redaction.mask_text("x groundwork-later-value-7 y") == "x groundwork-later-value-7 y"
    redaction.register(["groundwork-later-value-7", "groundwork-later-value-7-longer"])
    assert redaction.mask_text("x groundwork-later-value-7 y") == f"x {redaction.MASK} y"
    # the longer value first: no half-masked "********-longer"
    assert redaction.mask_text("groundwork-later-value-7-longer") == redaction.MASK


def test_credentials_in_a_url_are_masked():
    assert redaction.mask_text("redis://app:pw-in-url@cache1:6379/0") == f"redis://app:{redaction.MASK}@cache1:6379/0"
