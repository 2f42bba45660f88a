"""`djangoapp-manage celery ARGS...`: Celery's own command line, with Django set up.

    djangoapp-manage celery worker --loglevel INFO --concurrency 2
    djangoapp-manage celery beat --loglevel INFO --schedule /var/lib/djangoapp/celerybeat-schedule
    djangoapp-manage celery inspect ping

Everything after `celery` goes to Celery unchanged (its --help included), so
no --app is needed: the app is djangoapp.celery.app.
"""

import argparse
import sys

import click
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run Celery's command line (worker, beat, inspect, ...) for this project; arguments go to Celery."
    requires_system_checks = []

    def run_from_argv(self, argv):
        # Django's option parser would refuse Celery's options (or take --version,
        # --help and -v as its own): pass argv through untouched.
        sys.exit(self.start(argv[2:]))

    def add_arguments(self, parser):
        parser.add_argument("celery_args", nargs=argparse.REMAINDER, help="Celery's sub-command and its options.")

    def handle(self, *args, celery_args, **options):
        # call_command("celery", "inspect", "ping"): the same, without leaving the process.
        code = self.start([*args, *celery_args])
        if code:
            raise CommandError(f"celery exited with status {code}", returncode=code)

    @staticmethod
    def start(celery_args):
        from djangoapp.celery import app

        if not celery_args:
            celery_args = ["--help"]
        try:
            return app.start(argv=list(celery_args)) or 0
        except click.exceptions.Abort:
            return 1
        except click.ClickException as exc:  # usage errors: Celery's message and status, no traceback
            exc.show()
            return exc.exit_code
