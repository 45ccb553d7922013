from django.core.management.base import BaseCommand

from training.services import runs_requeue_stale


class Command(BaseCommand):
    help = "Put runs left 'running' by a worker that died back on the queue (workers also do this at start)."

    def handle(self, *args, **options) -> None:
        ids = runs_requeue_stale()
        self.stdout.write(f"requeued {len(ids)} run(s): {ids}" if ids else "no stale runs")
