import json
import shutil
import subprocess
import tempfile
import unittest
from io import StringIO
from pathlib import Path
from unittest import mock

from django.conf import settings
from django.core.management import call_command
from django.db import OperationalError
from django.test import TestCase, override_settings

from djangoapp.celery import app as celery_app
from notes.models import Note, Tick



class HealthTests(TestCase):
    def test_ok_when_the_database_answers(self):
        response = self.client.get("/health/")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json(), {"status": "ok"})

    def test_503_when_it_does_not(self):
        with mock.patch("notes.views.connection.cursor", side_effect=OperationalError("connection refused")), \
             self.assertLogs("notes.views", "WARNING"), self.assertLogs("django.request", "ERROR"):
            response = self.client.get("/health/")
        self.assertEqual(response.status_code, 503)
        self.assertEqual(response.json()["status"], "error")

    def test_the_path_without_slash_redirects(self):
        self.assertEqual(self.client.get("/health").status_code, 301)

    def test_unknown_hosts_are_refused(self):
        with self.assertLogs("django.security.DisallowedHost", "ERROR"):
            self.assertEqual(self.client.get("/health/", HTTP_HOST="evil.example").status_code, 400)


class NotesTests(TestCase):
    def test_create_as_json_and_as_a_form_then_list(self):
        created = self.client.post("/notes/", json.dumps({"title": "one", "body": "x"}), content_type="application/json")
        self.assertEqual(created.status_code, 201)
        self.assertEqual(created.json()["title"], "one")
        self.assertEqual(self.client.post("/notes/", {"title": "two"}).status_code, 201)
        listed = self.client.get("/notes/").json()["notes"]
        self.assertEqual([n["title"] for n in listed], ["two", "one"])

    def test_bad_input_is_a_400(self):
        for body in ('{"body": "no title"}', '{"title": ""}', "[1]", "not json"):
            response = self.client.post("/notes/", body, content_type="application/json")
            self.assertEqual(response.status_code, 400, body)
        self.assertEqual(self.client.get("/notes/?limit=0").status_code, 400)
        self.assertEqual(Note.objects.count(), 0)


class TickTests(TestCase):
    def test_record_tick_and_the_summary(self):
        self.assertEqual(self.client.get("/ticks/").json(), {"count": 0, "latest": None, "sources": {}})
        out = StringIO()
        call_command("record_tick", stdout=out)
        call_command("record_tick", stdout=out)
        Tick.objects.create(source="beat")
        self.assertIn("recorded timer tick", out.getvalue())
        summary = self.client.get("/ticks/").json()
        self.assertEqual(summary["count"], 3)
        self.assertEqual(summary["sources"]["timer"]["count"], 2)
        self.assertEqual(summary["sources"]["beat"]["count"], 1)
        self.assertEqual(self.client.get("/ticks/?source=timer").json()["count"], 2)
        self.assertEqual(self.client.get("/ticks/?source=nope").status_code, 400)


class AboutTests(TestCase):
    @unittest.skipUnless(shutil.which("git"), "needs the git program")
    def test_reports_git_and_the_helper(self):
        about = self.client.get("/about/").json()
        git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout
        self.assertIn(about["git"], git_version)
        self.assertEqual(about["helper"], "djangoapp-sdistonly 1.0 says hello to djangoapp")


class TaskTests(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.saved = {k: celery_app.conf[k] for k in ("task_always_eager", "task_store_eager_result", "result_backend")}
        celery_app.conf.update(task_always_eager=True, task_store_eager_result=True, result_backend="cache+memory://")
        celery_app._local.__dict__.pop("backend", None)  # the backend is made once per thread

    @classmethod
    def tearDownClass(cls):
        celery_app.conf.update(cls.saved)
        celery_app._local.__dict__.pop("backend", None)
        super().tearDownClass()

    def test_add_then_read_the_result(self):
        queued = self.client.get("/tasks/add/?x=2&y=40")
        self.assertEqual(queued.status_code, 202)
        status = self.client.get(f"/tasks/{queued.json()['id']}/").json()
        self.assertEqual((status["state"], status["result"]), ("SUCCESS", 42))

    def test_bad_numbers(self):
        self.assertEqual(self.client.get("/tasks/add/?x=1&y=b").status_code, 400)

    def test_beat_task_records_a_beat_tick(self):
        from notes.tasks import beat_tick

        beat_tick.delay()
        self.assertEqual(Tick.objects.filter(source="beat").count(), 1)
        self.assertIn("beat-tick", settings.CELERY_BEAT_SCHEDULE)


class StaticFilesTests(TestCase):
    def test_collectstatic_writes_stable_names(self):
        with tempfile.TemporaryDirectory() as root, override_settings(STATIC_ROOT=root):
            call_command("collectstatic", interactive=False, verbosity=0)
            self.assertEqual((Path(root) / "notes/hello.txt").read_text(), "hello from djangoapp\n")
            self.assertTrue((Path(root) / "admin/css/base.css").is_file())
