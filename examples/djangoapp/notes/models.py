from django.db import models


class Note(models.Model):
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return self.title

    def as_dict(self):
        return {"id": self.id, "title": self.title, "body": self.body, "created": self.created.isoformat()}


class Tick(models.Model):
    """A sign of life from a scheduler: Celery beat, or a periodic job running `record_tick`."""

    class Source(models.TextChoices):
        BEAT = "beat"
        TIMER = "timer"
        MANUAL = "manual"

    source = models.CharField(max_length=16, choices=Source.choices)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return f"{self.source} at {self.created:%Y-%m-%d %H:%M:%S}"
