import json
import logging

import django
from celery.result import AsyncResult
from django.db import DatabaseError, connection
from django.db.models import Count, Max
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from .models import Note, Tick
from .tasks import add

log = logging.getLogger(__name__)


@require_GET
def health(request):
    """200 only when the database answers a query."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        log.warning("health check: database error: %s", exc)
        return JsonResponse({"status": "error", "database": type(exc).__name__}, status=503)
    return JsonResponse({"status": "ok"})


@csrf_exempt  # a JSON API without cookies; nothing for a CSRF token to protect
@require_http_methods(["GET", "POST"])
def notes(request):
    if request.method == "GET":
        limit = _int(request.GET.get("limit", "100"))
        if limit is None or not 1 <= limit <= 1000:
            return JsonResponse({"detail": "limit: expected an integer from 1 to 1000"}, status=400)
        return JsonResponse({"notes": [note.as_dict() for note in Note.objects.all()[:limit]]})
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            return JsonResponse({"detail": "invalid JSON"}, status=400)
        if not isinstance(data, dict):
            return JsonResponse({"detail": "expected a JSON object"}, status=400)
    else:
        data = request.POST
    title, body = data.get("title"), data.get("body", "")
    if not isinstance(title, str) or not title.strip() or len(title) > 200:
        return JsonResponse({"detail": "title: expected a non-empty string of at most 200 characters"}, status=400)
    if not isinstance(body, str):
        return JsonResponse({"detail": "body: expected a string"}, status=400)
    note = Note.objects.create(title=title.strip(), body=body)
    return JsonResponse(note.as_dict(), status=201)


@require_GET
def ticks(request):
    """How many ticks there are and the latest one, in all and by source (?source=beat for one)."""
    rows = Tick.objects.all()
    source = request.GET.get("source")
    if source:
        if source not in Tick.Source.values:
            return JsonResponse({"detail": f"source: expected one of {', '.join(Tick.Source.values)}"}, status=400)
        rows = rows.filter(source=source)
    summary = rows.aggregate(count=Count("id"), latest=Max("created"))
    by_source = {
        row["source"]: {"count": row["count"], "latest": _iso(row["latest"])}
        for row in rows.order_by().values("source").annotate(count=Count("id"), latest=Max("created"))
    }
    return JsonResponse({"count": summary["count"], "latest": _iso(summary["latest"]), "sources": by_source})


@require_GET
def about(request):
    import git  # GitPython; needs the `git` program
    from djangoapp_sdistonly import banner

    version = git.Git().version_info
    return JsonResponse({
        "django": django.get_version(),
        "git": ".".join(str(part) for part in version),
        "helper": banner("djangoapp"),
    })


@csrf_exempt
@require_http_methods(["GET", "POST"])
def add_task(request):
    """Queue notes.tasks.add(x, y): /tasks/add/?x=1&y=2 -> 202 {"id": ...}."""
    params = request.POST if request.method == "POST" else request.GET
    x, y = _int(params.get("x")), _int(params.get("y"))
    if x is None or y is None:
        return JsonResponse({"detail": "x and y: expected integers"}, status=400)
    result = add.delay(x, y)
    return JsonResponse({"id": result.id}, status=202)


@require_GET
def task_status(request, task_id):
    result = AsyncResult(task_id, app=add.app)
    state = result.state
    answer = {"id": task_id, "state": state, "result": None}
    if state == "SUCCESS":
        answer["result"] = result.result
    elif state == "FAILURE":
        answer["result"] = repr(result.result)
    return JsonResponse(answer)


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _iso(value):
    return value.isoformat() if value else None
