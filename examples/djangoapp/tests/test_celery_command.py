import sys
from unittest import mock

from django.core.management import call_command, get_commands, load_command_class
from django.test import SimpleTestCase

WORKER = ["worker", "--loglevel", "INFO", "--hostname", "x@%h", "--queues", "a,b", "--concurrency", "2"]
BEAT = ["beat", "--loglevel", "INFO", "--schedule", "/var/lib/x/celerybeat-schedule", "--pidfile", "/run/x/beat.pid"]


class CeleryCommandTests(SimpleTestCase):
    def run_argv(self, args, returns=None):
        command = load_command_class(get_commands()["celery"], "celery")
        with mock.patch("djangoapp.celery.app.start", return_value=returns) as start:
            with self.assertRaises(SystemExit) as exit_:
                command.run_from_argv(["djangoapp-manage", "celery", *args])
        return start, exit_.exception.code

    def test_worker_and_beat_arguments_reach_celery_unchanged(self):
        for args in (WORKER, BEAT, ["--help"], ["worker", "-v", "--version", "--settings", "x"]):
            start, code = self.run_argv(args)
            start.assert_called_once_with(argv=args)
            self.assertEqual(code, 0)

    def test_celerys_exit_status_is_the_commands(self):
        self.assertEqual(self.run_argv(["worker"], returns=3)[1], 3)

    def test_no_arguments_shows_celerys_help(self):
        start, _ = self.run_argv([])
        start.assert_called_once_with(argv=["--help"])

    def test_call_command(self):
        with mock.patch("djangoapp.celery.app.start", return_value=None) as start:
            call_command("celery", "inspect", "ping")
        start.assert_called_once_with(argv=["inspect", "ping"])

    def test_the_console_script_sets_django_up(self):
        from djangoapp import manage

        with mock.patch.object(sys, "argv", ["djangoapp-manage", "help", "celery"]), \
             mock.patch("sys.stdout") as stdout:
            manage.main()
        self.assertTrue(stdout.write.called)
