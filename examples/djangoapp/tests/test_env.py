import os
from unittest import mock

from django.core.exceptions import ImproperlyConfigured
from django.test import SimpleTestCase

from djangoapp import env


class DatabaseUrlTests(SimpleTestCase):
    def test_postgres_url_is_percent_decoded(self):
        db = env.database_from_url("postgresql://shop:p%40ss%3Aw%2Frd%23@db.internal:6543/shop%2Dprod?sslmode=require")
        self.assertEqual(db["ENGINE"], "django.db.backends.postgresql")
        self.assertEqual(
            (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]),
            ("shop-prod", "shop", "p@ss:w/rd#", "db.internal", "6543"),
        )
        self.assertEqual(db["OPTIONS"], {"sslmode": "require"})

    def test_postgres_aliases_ipv6_and_defaults(self):
        for scheme in ("postgres", "postgresql", "postgresql+psycopg"):
            self.assertEqual(env.database_from_url(f"{scheme}://u@[::1]/d")["HOST"], "::1")
        db = env.database_from_url("postgresql://u@%2Frun%2Fpostgresql/d")
        self.assertEqual((db["HOST"], db["PORT"], db["PASSWORD"]), ("/run/postgresql", "", ""))

    def test_sqlite_for_development(self):
        self.assertEqual(env.database_from_url("sqlite:////var/tmp/dev.db")["NAME"], "/var/tmp/dev.db")
        self.assertEqual(env.database_from_url("sqlite:///dev.db")["NAME"], "dev.db")
        self.assertEqual(env.database_from_url("sqlite://")["NAME"], ":memory:")

    def test_errors_name_the_variable(self):
        for url in ("mysql://u:p@h/d", "postgresql://u:p@h:notaport/d", "postgresql://u:p@h:5432/"):
            with self.assertRaisesMessage(ImproperlyConfigured, "DATABASE_URL"):
                env.database_from_url(url)


class OtherVariablesTests(SimpleTestCase):
    def test_csrf_origins_follow_allowed_hosts(self):
        self.assertEqual(
            env.csrf_origins(["shop.example.com", ".example.org", "*"]),
            ["https://shop.example.com", "https://*.example.org"],
        )

    def test_csv_and_flag(self):
        with mock.patch.dict(os.environ, {"HOSTS": " a.example, ,b.example ", "ON": "Yes", "OFF": "0", "BAD": "maybe"}):
            self.assertEqual(env.csv("HOSTS"), ["a.example", "b.example"])
            self.assertTrue(env.flag("ON"))
            self.assertFalse(env.flag("OFF", default=True))
            self.assertTrue(env.flag("UNSET_VARIABLE", default=True))
            with self.assertRaisesMessage(ImproperlyConfigured, "BAD"):
                env.flag("BAD")
