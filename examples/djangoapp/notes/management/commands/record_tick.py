from django.core.management.base import BaseCommand

from notes.models import Tick


class Command(BaseCommand):
    help = "Record a Tick row (run it from cron or a timer every few minutes; /ticks/ shows the latest)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--source", default=Tick.Source.TIMER, choices=Tick.Source.values,
            help="What to record as the tick's source (default: %(default)s).",
        )

    def handle(self, *args, source, **options):
        tick = Tick.objects.create(source=source)
        total = Tick.objects.filter(source=source).count()
        self.stdout.write(f"recorded {source} tick {tick.id} ({total} {source} ticks in all)")
