"""groundwork's example app: one core, an ASGI and a WSGI front end, Celery.

`HEALTHY` is honoured by /health (False: 503 "broken release"); deploy tests
rewrite these two lines to ship a deliberately failing release.
"""

__version__ = "1.0.0"
HEALTHY = True
