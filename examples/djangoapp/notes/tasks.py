from celery import shared_task

from .models import Tick


@shared_task
def add(x, y):
    return x + y


@shared_task
def beat_tick():
    """Run by Celery beat every 10 s (CELERY_BEAT_SCHEDULE)."""
    return Tick.objects.create(source=Tick.Source.BEAT).id
